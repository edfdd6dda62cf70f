package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/flowbus/flowbus/shared/event"
	"github.com/flowbus/flowbus/shared/ingest"
	"github.com/flowbus/flowbus/shared/webhook"
)

// maxBody bounds what the receiver reads: an event is at most 1 MiB.
const maxBody = 2 << 20

// Handler verifies and prints deliveries.
type Handler struct {
	secret webhook.Secret
	now    func() time.Time
	mu     sync.Mutex // one delivery printed at a time
	out    io.Writer
}

// NewHandler returns a Handler checking signatures with secret and
// printing to out.
func NewHandler(secret webhook.Secret, out io.Writer, now func() time.Time) *Handler {
	return &Handler{secret: secret, out: out, now: now}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodOptions: // CloudEvents webhook handshake: consent to any origin
		if origin := r.Header.Get(webhook.HeaderRequestOrigin); origin != "" {
			w.Header().Set(webhook.HeaderAllowedOrigin, origin)
		}
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusOK)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "POST deliveries here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := webhook.Verify(h.secret, r.Header, body, h.now()); err != nil {
		h.printf("REJECTED %s: %v\n", r.Header.Get(webhook.HeaderID), err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	e, err := decode(r.Header, body)
	if err != nil {
		h.printf("UNREADABLE %s: %v\n", r.Header.Get(webhook.HeaderID), err)
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	line := fmt.Sprintf("%s id=%s type=%s workflow=%s", h.now().UTC().Format(time.RFC3339), e.ID, e.Type, e.WorkflowID)
	if e.Sequence > 0 {
		line += fmt.Sprintf(" seq=%d", e.Sequence)
	}
	if id, ok := e.Extension(event.AttrReplayID); ok {
		line += " replay=" + string(id)
	}
	h.printf("%s data=%s\n", line, e.Data)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) printf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(h.out, format, args...)
}

// decode reads a delivery in either CloudEvents mode: structured
// (application/cloudevents+json) or binary (ce- headers, the body as data).
func decode(hdr http.Header, body []byte) (event.Event, error) {
	if !strings.HasPrefix(hdr.Get("Content-Type"), "application/cloudevents+json") {
		flat := make(map[string]string, len(hdr))
		for k, v := range hdr {
			if len(v) > 0 && (strings.HasPrefix(strings.ToLower(k), "ce-") || strings.EqualFold(k, "Content-Type")) {
				flat[k] = v[0]
			}
		}
		if !ingest.IsBinary(flat) {
			return event.Event{}, fmt.Errorf("no ce-specversion header and not application/cloudevents+json")
		}
		var err error
		if body, err = ingest.FromBinary(flat, body); err != nil {
			return event.Event{}, err
		}
	}
	// Wire: stored events carry sequence (and replays replayid), which
	// producers may not set but deliveries do.
	return event.Decode(body, event.DecodeOptions{Wire: true})
}
