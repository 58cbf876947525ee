package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/refresh"
)

// Client calls the API of a meshflow serve; the command line uses it. It sends
// and reads the server's own wire types (package api), and returns an error
// answer as an *api.Error.
type Client struct {
	// BaseURL is where meshflow serve listens, e.g. "https://meshflow.example.com".
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>".
	Token string
	// HTTP sends the requests; default http.DefaultClient.
	HTTP *http.Client
}

// Approvals lists the runs of a product ("" for every product) that wait for the
// caller's approval.
func (c *Client) Approvals(ctx context.Context, ref string) ([]api.RunStatus, error) {
	path := "/api/v1/approvals"
	if ref != "" {
		path += "?product=" + url.QueryEscape(ref)
	}
	var out api.Approvals
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Approvals, err
}

// Run returns the status of a run.
func (c *Client) Run(ctx context.Context, workflowID string) (api.RunStatus, error) {
	var out api.RunStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+workflowID, nil, &out)
	return out, err
}

// Decide sends a decision; the server sets the principal to whoever the token
// names.
func (c *Client) Decide(ctx context.Context, d api.DecisionRequest) (api.Decided, error) {
	var out api.Decided
	err := c.do(ctx, http.MethodPost, "/api/v1/decisions", d, &out)
	return out, err
}

// StartRefresh starts a refresh of a product in the caller's name.
func (c *Client) StartRefresh(ctx context.Context, req api.RefreshRequest) (api.Started, error) {
	var out api.Started
	err := c.do(ctx, http.MethodPost, "/api/v1/refreshes", req, &out)
	return out, err
}

// RequestAccess asks, in the caller's name, to read a product.
func (c *Client) RequestAccess(ctx context.Context, req api.AccessRequestBody) (api.Started, error) {
	var out api.Started
	err := c.do(ctx, http.MethodPost, "/api/v1/access/requests", req, &out)
	return out, err
}

// DecideAccess approves or rejects an access request in the caller's name.
func (c *Client) DecideAccess(ctx context.Context, req api.AccessDecisionBody) (access.Status, error) {
	var out access.Status
	err := c.do(ctx, http.MethodPost, "/api/v1/access/decisions", req, &out)
	return out, err
}

// RevokeAccess ends a grant in the caller's name.
func (c *Client) RevokeAccess(ctx context.Context, req api.RevocationBody) (access.Status, error) {
	var out access.Status
	err := c.do(ctx, http.MethodPost, "/api/v1/access/revocations", req, &out)
	return out, err
}

// Deprecate records the deprecation of a major version of product ref.
func (c *Client) Deprecate(ctx context.Context, ref string, req api.DeprecationBody) (refresh.Deprecation, error) {
	var out refresh.Deprecation
	err := c.do(ctx, http.MethodPost, "/api/v1/products/"+ref+"/deprecations", req, &out)
	return out, err
}

// Query runs SQL over the products the caller may read and copies the answer,
// in req.Format, to w; truncated says that the row limit cut it short.
func (c *Client) Query(ctx context.Context, req api.QueryRequest, w io.Writer) (truncated bool, err error) {
	b, err := json.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("encode the query: %w", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.BaseURL, "/")+"/api/v1/query", bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("call meshflow serve at %s: %w", c.BaseURL, err)
	}
	r.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		r.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(r)
	if err != nil {
		return false, fmt.Errorf("call meshflow serve at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return false, answerError(resp)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return false, fmt.Errorf("read the answer to the query: %w", err)
	}
	return resp.Header.Get("X-Meshflow-Truncated") == "true", nil
}

// answerError reads an error answer as an *api.Error.
func answerError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &api.Error{}
	if json.Unmarshal(b, e) != nil || e.Message == "" {
		e = &api.Error{Message: strings.TrimSpace(string(b)), Code: "http"}
	}
	e.Status = resp.StatusCode
	return e
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request to %s: %w", path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, r)
	if err != nil {
		return fmt.Errorf("call meshflow serve at %s: %w", c.BaseURL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("call meshflow serve at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &api.Error{}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e = &api.Error{Message: strings.TrimSpace(string(b)), Code: "http"}
		}
		e.Status = resp.StatusCode
		return e
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	return nil
}
