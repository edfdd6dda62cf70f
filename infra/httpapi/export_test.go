package httpapi

import (
	"net/http"
	"time"
)

// SetBodyTimeout changes the body timeout of a handler New returned.
func SetBodyTimeout(h http.Handler, d time.Duration) { h.(*handler).bodyTimeout = d }
