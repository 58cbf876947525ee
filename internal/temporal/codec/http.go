package codec

import (
	"net"
	"net/http"
	"slices"
	"strings"

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
//
// Requests must name the server in their Host header: the address the
// connection arrived at, or localhost, 127.0.0.1 or [::1] with its port. Others
// are answered 421 Misdirected Request, so a web page on another site cannot
// reach the codec through a DNS name it rebinds to 127.0.0.1. HandlerWithHosts
// allows more names (the proxy's, or the name the Temporal UI server uses).
func Handler(c *Codec, origins []string) http.Handler {
	return HandlerWithHosts(c, origins, nil)
}

// HandlerWithHosts is Handler that also answers requests whose Host header is
// one of hosts: "name" (any port) or "name:port", compared case-insensitively.
func HandlerWithHosts(c *Codec, origins, hosts []string) http.Handler {
	h := converter.NewPayloadCodecHTTPHandler(c)
	allowed := make([]string, 0, len(hosts))
	for _, x := range hosts {
		if x = strings.ToLower(strings.TrimSpace(x)); x != "" {
			allowed = append(allowed, x)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r, allowed) {
			http.Error(w, "misdirected request: the Host header names no address of this codec server (allow more names with --allowed-host)", http.StatusMisdirectedRequest)
			return
		}
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

// hostAllowed reports whether r's Host header names this server: the local
// address of its connection, a loopback name with that port, or one of extra.
func hostAllowed(r *http.Request, extra []string) bool {
	host := strings.ToLower(r.Host)
	if host == "" {
		return false
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.Trim(host, "[]"), ""
	}
	for _, x := range extra {
		if x == host || x == name || x == "["+name+"]" {
			return true
		}
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lhost, lport, err := net.SplitHostPort(local.String())
	if err != nil || port != lport {
		return false
	}
	// A rebound DNS name never arrives as localhost or as an IP literal.
	if name == "localhost" || name == strings.ToLower(lhost) {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}
