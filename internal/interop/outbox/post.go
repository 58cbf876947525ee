package outbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Post posts one event to a receiver's URL with the given content type and
// headers. An answer of 4xx other than 401, 403, 408 and 429 is ErrRejected:
// the receiver refuses the event itself. cl nil is a client with a 30s timeout.
func Post(ctx context.Context, cl *http.Client, url, contentType string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	if cl == nil {
		cl = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err := resp.Body.Close(); err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests &&
		code != http.StatusUnauthorized && code != http.StatusForbidden:
		return fmt.Errorf("post %s: %s: %s: %w", url, resp.Status, strings.TrimSpace(string(msg)), ErrRejected)
	default:
		return fmt.Errorf("post %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
}
