// Command hostile is a webhook receiver that misbehaves on purpose, for
// probing delivery (docs/reliability.md, "Subscriptions under attack"). The
// first path segment says how it answers, the second names the subscription
// (its secret, POSTed to /_secret/<name>, verifies signatures):
//
//	/ok/<name>            204, the delivery recorded (one JSON line in -out)
//	/hang/<name>          never answers
//	/slow/<name>?ms=N     204 after N ms
//	/huge, /huge500       200 or 500 with a 200 MiB body
//	/trickle/<name>       200, then one byte every 100 ms for a minute
//	/redirect/<name>      302 to the AWS metadata address
//	/close/<name>         200 with half its body, then the connection closed
//	/closehdr/<name>      half a status line, then the connection closed
//	/retryafter?ra=V      503 with Retry-After: V
//	/gone/<name>          410
//	/flaky?until=UNIX     503 (Retry-After: 1) until then, then 204
//
// GET /_hits counts requests per path. The scripts in probe/ drive the
// subscription API against it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowbus/flowbus/shared/webhook"
)

var (
	mu      sync.Mutex
	secrets = map[string]webhook.Secret{}
	hits    = map[string]int{}
	out     *os.File
	start   = time.Now()
)

func main() {
	addr := flag.String("addr", "127.0.0.1:29600", "address to listen on (loopback)")
	file := flag.String("out", "hostile.jsonl", "file the deliveries are recorded in, one JSON object a line")
	flag.Parse()
	var err error
	out, err = os.OpenFile(*file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
	http.HandleFunc("/_secret/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/_secret/")
		b, _ := io.ReadAll(r.Body)
		s, err := webhook.ParseSecret(strings.TrimSpace(string(b)))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		secrets[name] = s
		mu.Unlock()
	})
	http.HandleFunc("/_hits", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		json.NewEncoder(w).Encode(hits)
	})
	http.HandleFunc("/", handle)
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println("listening", *addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

func handle(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	mode, name := parts[0], ""
	if len(parts) > 1 {
		name = parts[1]
	}
	mu.Lock()
	hits[r.URL.Path]++
	mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	switch mode {
	case "hang":
		<-r.Context().Done()
		return
	case "slow":
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		record(r, name, body, "slow")
		w.WriteHeader(204)
		return
	case "huge", "huge500":
		status := 200
		if mode == "huge500" {
			status = 500
		}
		w.WriteHeader(status)
		chunk := make([]byte, 1<<20)
		for i := 0; i < 200; i++ { // 200 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		record(r, name, body, mode)
		return
	case "trickle":
		w.WriteHeader(200)
		for i := 0; i < 600; i++ {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
		return
	case "redirect":
		w.Header().Set("Location", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
		w.WriteHeader(302)
		return
	case "close":
		hj, _ := w.(http.Hijacker)
		c, buf, _ := hj.Hijack()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		buf.Flush()
		c.Close()
		return
	case "closehdr":
		hj, _ := w.(http.Hijacker)
		c, buf, _ := hj.Hijack()
		buf.WriteString("HTTP/1.1 20")
		buf.Flush()
		c.Close()
		return
	case "retryafter":
		w.Header().Set("Retry-After", r.URL.Query().Get("ra"))
		w.WriteHeader(503)
		return
	case "gone":
		w.WriteHeader(410)
		return
	case "flaky": // 500 until the deadline in ?until=unix
		until, _ := strconv.ParseInt(r.URL.Query().Get("until"), 10, 64)
		if time.Now().Unix() < until {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			return
		}
	}
	record(r, name, body, mode)
	w.WriteHeader(204)
}

func record(r *http.Request, name string, body []byte, mode string) {
	mu.Lock()
	sec, ok := secrets[name]
	mu.Unlock()
	verified := "nosecret"
	if ok {
		if err := webhook.Verify(sec, r.Header, body, time.Now()); err != nil {
			verified = "BAD: " + err.Error()
		} else {
			verified = "ok"
		}
	}
	rec := map[string]any{
		"t":        time.Since(start).Seconds(),
		"sub":      name,
		"mode":     mode,
		"id":       r.Header.Get("webhook-id"),
		"wf":       r.Header.Get("ce-workflowid"),
		"seq":      r.Header.Get("ce-sequence"),
		"type":     r.Header.Get("ce-type"),
		"verified": verified,
		"body":     string(body),
	}
	b, _ := json.Marshal(rec)
	mu.Lock()
	out.Write(append(b, '\n'))
	mu.Unlock()
}
