package openlineage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Transport delivers one event, as JSON. An error that wraps ErrRejected means
// the receiver refused the event itself, and retrying will not help.
type Transport interface {
	Send(ctx context.Context, event []byte) error
}

// ErrRejected marks an event the receiver refused (HTTP 4xx other than 408
// and 429).
var ErrRejected = errors.New("event rejected")

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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(event))
	if err != nil {
		return fmt.Errorf("post %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if h.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.APIKey)
	}
	cl := h.Client
	if cl == nil {
		cl = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", endpoint, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err := resp.Body.Close(); err != nil {
		return fmt.Errorf("post %s: %w", endpoint, err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests &&
		resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden:
		return fmt.Errorf("post %s: %s: %s: %w", endpoint, resp.Status, strings.TrimSpace(string(body)), ErrRejected)
	default:
		return fmt.Errorf("post %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
}

// File appends events to a file as JSON lines, one event a line.
type File struct {
	Path string
	mu   sync.Mutex
}

// Send appends one event and syncs the file.
func (f *File) Send(_ context.Context, event []byte) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.OpenFile(f.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.Path, err)
	}
	defer func() {
		if cerr := fh.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", f.Path, cerr)
		}
	}()
	line := append(bytes.TrimSpace(event), '\n')
	if _, err := fh.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Path, err)
	}
	return nil
}

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
