package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"time"

	"github.com/meshflow/meshflow/internal/interop/outbox"
)

// Webhook posts payloads to webhook URLs.
type Webhook struct {
	// Client defaults to one with a 30s timeout.
	Client *http.Client
}

// Post posts one payload. A 4xx answer but 401, 403, 408 and 429 wraps
// outbox.ErrRejected: the event goes to the dead letters at once.
func (w Webhook) Post(ctx context.Context, url string, payload []byte) error {
	return outbox.Post(ctx, w.Client, url, "application/json", nil, payload)
}

// SMTP sends e-mail through one server, with STARTTLS when the server offers
// it and PLAIN authentication when a user is set (only over TLS or to the
// local machine: net/smtp refuses otherwise).
type SMTP struct {
	// Addr is host:port of the server.
	Addr string
	// User and Password authenticate; empty User sends without.
	User, Password string
	// From is the sender's address.
	From string
	// TLS, when set, configures STARTTLS (default: verify the server's
	// certificate against its host name).
	TLS *tls.Config
	// Timeout bounds one delivery (default 30s).
	Timeout time.Duration
}

// ErrNoSMTP is the failure of an e-mail notification on a worker without an
// SMTP server.
var ErrNoSMTP = errors.New("no SMTP server: set MESHFLOW_SMTP_ADDR (and MESHFLOW_SMTP_USER, MESHFLOW_SMTP_PASSWORD, MESHFLOW_SMTP_FROM) on the worker")

// Send delivers one message to the addresses. A permanent refusal (5xx) of the
// server wraps outbox.ErrRejected.
func (m *SMTP) Send(ctx context.Context, to []string, msg []byte) (err error) {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", m.Addr, err)
	}
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(m.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp %s: %w", m.Addr, err)
	}
	defer func() {
		if cerr := c.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("smtp %s: %w", m.Addr, cerr)
		}
	}()
	if err := c.Hello("localhost"); err != nil {
		return m.fail(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := m.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return m.fail(err)
		}
	}
	if m.User != "" {
		if err := c.Auth(smtp.PlainAuth("", m.User, m.Password, host)); err != nil {
			return m.fail(err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return m.fail(err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return m.fail(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return m.fail(err)
	}
	if _, err := w.Write(msg); err != nil {
		return m.fail(err)
	}
	if err := w.Close(); err != nil {
		return m.fail(err)
	}
	return m.fail(c.Quit())
}

// fail names the server on an error and marks permanent refusals.
func (m *SMTP) fail(err error) error {
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*textproto.Error](err); ok && te.Code >= 500 {
		return fmt.Errorf("smtp %s: %w: %w", m.Addr, err, outbox.ErrRejected)
	}
	return fmt.Errorf("smtp %s: %w", m.Addr, err)
}
