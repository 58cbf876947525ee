package codec

import (
	"net/http"
	"slices"

	"go.temporal.io/sdk/converter"
)

// MaxRequestBytes bounds one request to the codec server.
const MaxRequestBytes = 32 << 20

// Handler serves POST …/encode and …/decode for the Temporal UI's remote codec
// endpoint (converter.NewPayloadCodecHTTPHandler) and answers the browser's CORS
// preflight for the given UI origins (e.g. "http://localhost:8233"); requests
// from other origins get no CORS headers, so browsers on other sites cannot read
// decoded payloads. The handler does not authenticate: serve it on loopback
// beside the browser, or behind a proxy that does.
func Handler(c *Codec, origins []string) http.Handler {
	h := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && slices.Contains(origins, o) {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		h.ServeHTTP(w, r)
	})
}
