package webhook_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/flowbus/flowbus/shared/webhook"
)

func TestPolicyCheck(t *testing.T) {
	cases := []struct {
		addr           string
		public, devPri string // reason prefix refused with under the zero policy / with loopback and private allowed; "" allowed
	}{
		{"93.184.216.34", "", ""},
		{"2606:2800:220:1:248:1893:25c8:1946", "", ""},
		{"169.254.169.254", "link-local", "link-local"},
		{"::ffff:169.254.169.254", "link-local", "link-local"},
		{"64:ff9b::a9fe:a9fe", "link-local", "link-local"}, // NAT64 of 169.254.169.254
		{"fd00:ec2::254", "cloud metadata", "cloud metadata"},
		{"100.100.100.200", "cloud metadata", "cloud metadata"},
		{"168.63.129.16", "cloud metadata", "cloud metadata"},
		{"fe80::1", "link-local", "link-local"},
		{"0.0.0.0", "unspecified", "unspecified"},
		{"0.1.2.3", "unspecified", "unspecified"},
		{"::", "unspecified", "unspecified"},
		{"224.0.0.1", "multicast", "multicast"},
		{"239.1.2.3", "multicast", "multicast"},
		{"ff02::1", "multicast", "multicast"},
		{"255.255.255.255", "reserved", "reserved"},
		{"127.0.0.1", "loopback", ""},
		{"127.8.9.10", "loopback", ""},
		{"::1", "loopback", ""},
		{"10.1.2.3", "private", ""},
		{"172.16.0.1", "private", ""},
		{"192.168.1.1", "private", ""},
		{"100.64.0.1", "private", ""},
		{"fd12::1", "private", ""},
	}
	dev := webhook.Policy{AllowPlainLoopback: true, AllowPrivate: true}
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		for _, p := range []struct {
			pol  webhook.Policy
			want string
		}{{webhook.Policy{}, c.public}, {dev, c.devPri}} {
			got := p.pol.Check(a)
			if (got == "") != (p.want == "") || !strings.HasPrefix(got, p.want) {
				t.Errorf("%+v.Check(%s) = %q, want %q…", p.pol, c.addr, got, p.want)
			}
		}
	}
}

func TestValidateURL(t *testing.T) {
	prod := webhook.Policy{}
	dev := webhook.Policy{AllowPlainLoopback: true}
	cases := []struct {
		url     string
		p       webhook.Policy
		wantErr string // substring of the reason, "" for valid
	}{
		{"https://hooks.example.com/n8n/webhook/abc?x=1", prod, ""},
		{"https://hooks.example.com:8443/x", prod, ""},
		{"https://93.184.216.34/x", prod, ""},
		{"https://[2606:2800:220:1:248:1893:25c8:1946]/x", prod, ""},
		{"http://127.0.0.1:9000/hook", dev, ""},
		{"http://localhost:9000/hook", dev, ""},
		{"http://[::1]:9000/hook", dev, ""},
		{"https://127.0.0.1:9000/hook", dev, ""},
		{"", prod, "required"},
		{"https://x.example/" + strings.Repeat("a", 2048), prod, "more than the limit"},
		{"hooks.example.com/x", prod, "https://"},
		{"ftp://hooks.example.com/x", prod, "https://"},
		{"http://hooks.example.com/x", prod, "https://"},
		{"http://127.0.0.1:9000/hook", prod, "https://"},
		{"http://hooks.example.com/x", dev, "loopback only"},
		{"http://10.0.0.1/x", webhook.Policy{AllowPlainLoopback: true, AllowPrivate: true}, "loopback only"},
		{"https:opaque", prod, "absolute"},
		{"https:///path", prod, "absolute"},
		{"https://user:pass@hooks.example.com/x", prod, "credentials"},
		{"https://hooks.example.com/x#frag", prod, "fragment"},
		{"https://hooks.example.com:99999/x", prod, "port"},
		{"https://169.254.169.254/latest/meta-data/", prod, "link-local"},
		{"https://[fd00:ec2::254]/", prod, "metadata"},
		{"https://100.100.100.200/", prod, "metadata"},
		{"https://[::ffff:169.254.169.254]/", prod, "link-local"},
		{"https://metadata.google.internal/computeMetadata/v1/", prod, "metadata"},
		{"https://METADATA.google.internal./x", prod, "metadata"},
		{"https://0.0.0.0/", prod, "unspecified"},
		{"https://224.0.0.1/", prod, "multicast"},
		{"https://10.0.0.1/", prod, "private"},
		{"https://10.0.0.1/", webhook.Policy{AllowPrivate: true}, ""},
		{"https://127.0.0.1/", prod, "loopback"},
		{"https://localhost/", prod, "loopback"},
		{"https://%zz/", prod, "not a URL"},
	}
	for _, c := range cases {
		err := c.p.ValidateURL(c.url)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateURL(%.60q) under %+v = %v, want nil", c.url, c.p, err)
			}
			continue
		}
		var fe *webhook.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, webhook.ErrInvalidTarget) {
			t.Errorf("ValidateURL(%.60q) under %+v = %v, want a *FieldError", c.url, c.p, err)
			continue
		}
		if fe.Field != "target.url" || !strings.Contains(fe.Reason, c.wantErr) {
			t.Errorf("ValidateURL(%.60q) under %+v = %s: %s, want target.url: …%s…", c.url, c.p, fe.Field, fe.Reason, c.wantErr)
		}
	}
}

// TestCheckResolved: a name is refused at creation when it resolves to an
// address the policy refuses, naming the address; a name that does not
// resolve, or resolves to public addresses only, is accepted (the dial-time
// check still judges every connection).
func TestCheckResolved(t *testing.T) {
	names := map[string][]string{
		"public.example":   {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
		"metadata.example": {"169.254.169.254"},
		"imds6.example":    {"fd00:ec2::254"},
		"mapped.example":   {"::ffff:169.254.169.254"},
		"mixed.example":    {"93.184.216.34", "10.0.0.7"},
		"loop.example":     {"127.0.0.1"},
		"cgnat.example":    {"100.64.1.2"},
		"zero.example":     {"0.0.0.0"},
	}
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range names[host] {
			out = append(out, netip.MustParseAddr(a))
		}
		if len(out) == 0 {
			return nil, errors.New("no such host")
		}
		return out, nil
	}
	prod := webhook.Policy{}
	dev := webhook.Policy{AllowPlainLoopback: true}
	cases := []struct {
		url     string
		p       webhook.Policy
		wantErr string
	}{
		{"https://public.example/hook", prod, ""},
		{"https://unresolvable.example/hook", prod, ""},
		{"https://93.184.216.34/hook", prod, ""}, // an address: ValidateURL's
		{"https://metadata.example/latest", prod, "resolves to 169.254.169.254, which is not allowed: link-local"},
		{"https://imds6.example/", prod, "fd00:ec2::254, which is not allowed: cloud metadata"},
		{"https://mapped.example/", prod, "link-local"},
		{"https://mixed.example/", prod, "resolves to 10.0.0.7, which is not allowed: private"},
		{"https://mixed.example/", webhook.Policy{AllowPrivate: true}, ""},
		{"https://loop.example/", prod, "loopback"},
		{"https://loop.example/", dev, ""},
		{"http://loop.example:9000/", dev, ""},
		{"http://public.example/", dev, "plain http:// is allowed to loopback only"},
		{"https://cgnat.example/", prod, "private"},
		{"https://zero.example/", prod, "unspecified"},
	}
	for _, c := range cases {
		err := c.p.CheckResolved(context.Background(), lookup, c.url)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("CheckResolved(%s) under %+v = %v, want nil", c.url, c.p, err)
			}
			continue
		}
		var fe *webhook.FieldError
		if !errors.As(err, &fe) || fe.Field != "target.url" || !strings.Contains(fe.Reason, c.wantErr) {
			t.Errorf("CheckResolved(%s) under %+v = %v, want target.url: …%s…", c.url, c.p, err, c.wantErr)
		}
	}
}
