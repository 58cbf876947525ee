package openlineage

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/meshflow/meshflow/internal/interop/outbox"
)

// Transport delivers one event, as JSON. An error that wraps ErrRejected means
// the receiver refused the event itself, and retrying will not help.
type Transport interface {
	Send(ctx context.Context, event []byte) error
}

// ErrRejected marks an event the receiver refused (HTTP 4xx other than 408
// and 429).
var ErrRejected = outbox.ErrRejected

// LineagePath is the path of Marquez's (and the OpenLineage HTTP transport's)
// endpoint, added to a URL without a path.
const LineagePath = "/api/v1/lineage"

// HTTP posts events to an OpenLineage receiver such as Marquez.
type HTTP struct {
	// URL is the endpoint; one without a path gets LineagePath.
	URL string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Client defaults to one with a 30s timeout.
	Client *http.Client
}

// Endpoint returns the URL events are posted to.
func (h *HTTP) Endpoint() (string, error) {
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("openlineage url %q: want http(s)://host[:port][/path]", h.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = LineagePath
	}
	return u.String(), nil
}

// Send posts one event.
func (h *HTTP) Send(ctx context.Context, event []byte) error {
	endpoint, err := h.Endpoint()
	if err != nil {
		return err
	}
	header := http.Header{}
	if h.APIKey != "" {
		header.Set("Authorization", "Bearer "+h.APIKey)
	}
	return outbox.Post(ctx, h.Client, endpoint, "application/json", header, event)
}

// File appends events to a file as JSON lines, one event a line.
type File = outbox.File

// Multi sends to each transport in turn; an event is sent when all took it.
type Multi []Transport

// Send sends to every transport.
func (m Multi) Send(ctx context.Context, event []byte) error {
	for _, t := range m {
		if err := t.Send(ctx, event); err != nil {
			return err
		}
	}
	return nil
}
