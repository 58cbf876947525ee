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
	"github.com/meshflow/meshflow/internal/refresh"
)

// Client calls the API of a meshflow serve; the command line uses it.
type Client struct {
	// BaseURL is where meshflow serve listens, e.g. "https://meshflow.example.com".
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>".
	Token string
	// HTTP sends the requests; default http.DefaultClient.
	HTTP *http.Client
}

// APIError is an error answered by the API.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.StatusCode, e.Code)
}

// Pending is a run waiting for the caller's approval.
type Pending struct {
	WorkflowID string         `json:"workflowId"`
	RunID      string         `json:"runId,omitempty"`
	Status     refresh.Status `json:"status"`
}

// DecisionRequest is the body of POST /api/v1/decisions.
type DecisionRequest struct {
	WorkflowID   string `json:"workflowId"`
	Approve      bool   `json:"approve"`
	Comment      string `json:"comment,omitempty"`
	ManifestHash string `json:"manifestHash"`
}

// Decided is the answer to an accepted decision.
type Decided struct {
	WorkflowID string         `json:"workflowId"`
	Principal  string         `json:"principal"`
	Decision   string         `json:"decision"`
	Status     refresh.Status `json:"status"`
}

// Approvals lists the runs of a product ("" for every product) that wait for the
// caller's approval.
func (c *Client) Approvals(ctx context.Context, ref string) ([]Pending, error) {
	path := "/api/v1/approvals"
	if ref != "" {
		path += "?product=" + url.QueryEscape(ref)
	}
	var out struct {
		Approvals []Pending `json:"approvals"`
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Approvals, err
}

// Run returns the status of a run.
func (c *Client) Run(ctx context.Context, workflowID string) (Pending, error) {
	var out Pending
	err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+workflowID, nil, &out)
	return out, err
}

// Decide sends a decision; the server sets the principal to whoever the token
// names.
func (c *Client) Decide(ctx context.Context, d DecisionRequest) (Decided, error) {
	var out Decided
	err := c.do(ctx, http.MethodPost, "/api/v1/decisions", d, &out)
	return out, err
}

// StartRefresh starts a refresh of a product in the caller's name.
func (c *Client) StartRefresh(ctx context.Context, req RefreshRequest) (Started, error) {
	var out Started
	err := c.do(ctx, http.MethodPost, "/api/v1/refreshes", req, &out)
	return out, err
}

// RequestAccess asks, in the caller's name, to read a product.
func (c *Client) RequestAccess(ctx context.Context, req AccessRequestBody) (Started, error) {
	var out Started
	err := c.do(ctx, http.MethodPost, "/api/v1/access/requests", req, &out)
	return out, err
}

// DecideAccess approves or rejects an access request in the caller's name.
func (c *Client) DecideAccess(ctx context.Context, req AccessDecisionBody) (access.Status, error) {
	var out access.Status
	err := c.do(ctx, http.MethodPost, "/api/v1/access/decisions", req, &out)
	return out, err
}

// RevokeAccess ends a grant in the caller's name.
func (c *Client) RevokeAccess(ctx context.Context, req RevocationBody) (access.Status, error) {
	var out access.Status
	err := c.do(ctx, http.MethodPost, "/api/v1/access/revocations", req, &out)
	return out, err
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
		var e apiError
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e = apiError{Error: strings.TrimSpace(string(b)), Code: "http"}
		}
		return &APIError{StatusCode: resp.StatusCode, Code: e.Code, Message: e.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	return nil
}
