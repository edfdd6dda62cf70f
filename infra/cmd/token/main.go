// Command token mints a token of the local runtime's JWT issuer and prints
// only the token: make -s token ARGS="sub=alice groups=ops,dev scope='flowbus/publish flowbus/read'".
// Claims are name=value: sub (default flowbus-dev, the runtime's admin),
// aud (default flowbus), ttl (a Go duration, default 12h; negative for an
// expired token), groups (comma-separated, a list claim), anything else as
// a string claim. It signs with the key make dev made under .run/issuer, as
// the issuer the last make dev served (.run/issuer/issuer-url).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowbus/flowbus/infra/devrun"
	"github.com/flowbus/flowbus/infra/jwtlocal"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "token:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	dir := fs.String("dir", filepath.Join(".run", "issuer"), "the local issuer's folder (devrun.Options.IssuerDir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(*dir, devrun.IssuerFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no local issuer in %s: start make dev first", *dir)
	}
	if err != nil {
		return err
	}
	iss, err := jwtlocal.Open(*dir, strings.TrimSpace(string(raw)))
	if err != nil {
		return err
	}
	c := jwtlocal.Claims{Subject: devrun.DevAdmin, Extra: map[string]any{}}
	for _, a := range fs.Args() {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: claims are name=value (sub=alice groups=ops,dev scope='a b' aud=flowbus ttl=1h)", a)
		}
		switch k {
		case "sub":
			c.Subject = v
		case "aud":
			c.Audience = v
		case "ttl":
			if c.TTL, err = time.ParseDuration(v); err != nil || c.TTL == 0 {
				return fmt.Errorf("ttl %q: want a Go duration such as 1h or -1m", v)
			}
		case "groups", "cognito:groups":
			c.Extra[k] = strings.Split(v, ",")
		default:
			c.Extra[k] = v
		}
	}
	tok, err := iss.Mint(c, time.Now())
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
