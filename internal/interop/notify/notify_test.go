package notify

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/interop/outbox"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var quiet = slog.New(slog.DiscardHandler)

func testStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// approval is a full approval-requested event as Govern leaves it.
func approval(runID string) Event {
	deadline := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	return Event{Kind: spec.EventApprovalRequested, At: time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC), Domain: "finance", Product: "finance/global-kpis",
		Run:   Run{WorkflowID: "refresh/finance/global-kpis/manual-1", RunID: runID},
		Title: "Approval requested: finance/global-kpis", Text: "A new version waits for sign-off by 1 of stewards (maria.rossi).",
		Action: "Review it in the inbox.", Stage: "awaiting-approval", Approvers: []string{"maria.rossi"}, Deadline: &deadline,
		Breaking: true, Changes: []Change{{Severity: "breaking", Path: "schema.kpis.revenue", Message: "column revenue removed"}}}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJSONPayloadValidatesAgainstItsSchema(t *testing.T) {
	schema := compileSchema(t)
	ev := approval("run-1")
	ev.SchemaVersion, ev.ID, ev.Link = SchemaVersion, EventID("run-1", SeqApproval, ev.Kind), "https://meshflow.example.com/inbox#x"
	minimal := Event{SchemaVersion: SchemaVersion, ID: "r-099-failed", Kind: spec.EventFailed, At: ev.At, Domain: "sales", Product: "sales/orders",
		Run: Run{WorkflowID: "refresh/sales/orders/x", RunID: "r"}, Title: "failed", Text: "it failed"}
	for _, e := range []Event{ev, minimal} {
		b, err := Payload(spec.FormatJSON, e)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err := schema.Validate(doc); err != nil {
			t.Errorf("%s: %v\n%s", e.Kind, err, b)
		}
	}
	// The schema is strict enough to catch a wrong event.
	bad := minimal
	bad.Kind, bad.Product = "approval-requestd", "no-slash"
	b, _ := Payload("", bad)
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err := schema.Validate(doc); err == nil {
		t.Error("an unknown kind and a product without a domain validate")
	}
	// Every event name of mesh.yaml is a kind of the schema.
	var raw struct {
		Properties struct {
			Kind struct {
				Enum []string `json:"enum"`
			} `json:"kind"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(Schema, &raw); err != nil {
		t.Fatal(err)
	}
	if strings.Join(raw.Properties.Kind.Enum, ",") != strings.Join(spec.NotificationEvents, ",") {
		t.Errorf("schema kinds %v, mesh.yaml events %v", raw.Properties.Kind.Enum, spec.NotificationEvents)
	}
}

func TestSlackPayloadHasTextAndBlocks(t *testing.T) {
	ev := approval("run-1")
	ev.Link = "https://meshflow.example.com/inbox#refresh%2Ffinance"
	ev.Text = "a <b> & c"
	b, err := Payload(spec.FormatSlack, ev)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string `json:"type"`
			Text     *struct{ Type, Text string }
			Elements []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			}
		} `json:"blocks"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "Approval requested: finance/global-kpis") || !strings.Contains(msg.Text, "<"+ev.Link+"|") {
		t.Errorf("text %q lacks the title or the link", msg.Text)
	}
	var types []string
	button := ""
	for _, bl := range msg.Blocks {
		types = append(types, bl.Type)
		for _, e := range bl.Elements {
			if e.Type == "button" {
				button = e.URL
			}
		}
	}
	if strings.Join(types, ",") != "header,section,section,context,actions" || button != ev.Link {
		t.Fatalf("blocks %v, button %q", types, button)
	}
	if got := msg.Blocks[1].Text.Text; got != "a &lt;b&gt; &amp; c" {
		t.Errorf("section text %q is not escaped for mrkdwn", got)
	}
}

func TestTeamsPayloadIsAMessageCard(t *testing.T) {
	ev := approval("run-1")
	ev.Link = "https://meshflow.example.com/inbox#x"
	b, err := Payload(spec.FormatTeams, ev)
	if err != nil {
		t.Fatal(err)
	}
	var card struct {
		Type     string `json:"@type"`
		Context  string `json:"@context"`
		Summary  string `json:"summary"`
		Sections []struct {
			Facts []struct{ Name, Value string } `json:"facts"`
		} `json:"sections"`
		Actions []struct {
			Type    string                     `json:"@type"`
			Targets []struct{ OS, URI string } `json:"targets"`
		} `json:"potentialAction"`
	}
	if err := json.Unmarshal(b, &card); err != nil {
		t.Fatal(err)
	}
	if card.Type != "MessageCard" || card.Context != "https://schema.org/extensions" || card.Summary == "" {
		t.Fatalf("not a MessageCard: %s", b)
	}
	facts := map[string]string{}
	for _, f := range card.Sections[0].Facts {
		facts[f.Name] = f.Value
	}
	if facts["Product"] != "finance/global-kpis" || facts["Approvers"] != "maria.rossi" || facts["Change (breaking)"] == "" {
		t.Errorf("facts %v", facts)
	}
	if len(card.Actions) != 1 || card.Actions[0].Type != "OpenUri" || card.Actions[0].Targets[0].URI != ev.Link {
		t.Errorf("actions %+v", card.Actions)
	}
	if _, err := Payload("xml", ev); err == nil {
		t.Error("an unknown format renders")
	}
}

// receiver is a webhook that records what it gets and answers with status.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, b)
	if r.status != 0 {
		w.WriteHeader(r.status)
	}
}

func (r *receiver) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

func routes(ns ...spec.Notification) func(context.Context) ([]spec.Notification, error) {
	return func(context.Context) ([]spec.Notification, error) { return ns, nil }
}

func TestDeliveryIsDeduplicatedByEventID(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := &Sender{Store: st, Logger: quiet, Routes: routes(spec.Notification{Name: "stewards", Webhook: srv.URL, Events: []string{spec.EventApprovalRequested}, Domains: []string{"finance"}}),
		PublicURL: "https://meshflow.example.com/", Registerer: prometheus.NewRegistry()}
	o := Outbox{Store: st}
	// Govern ran twice (a retry): the same event, written twice.
	first := approval("run-1")
	retry := approval("run-1")
	retry.Text = "written by the retry"
	for _, ev := range []Event{first, retry} {
		if err := o.Write(ctx, SeqApproval, ev); err != nil {
			t.Fatal(err)
		}
	}
	// Another domain's event is not routed to this channel.
	other := approval("run-2")
	other.Domain, other.Product = "sales", "sales/orders"
	if err := o.Write(ctx, SeqApproval, other); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Once(ctx); err != nil || n != 2 {
		t.Fatalf("Once = %d, %v; want both events done", n, err)
	}
	// A retry after the event was sent writes nothing again.
	if err := o.Write(ctx, SeqApproval, retry); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	got := rcv.got()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d events, want 1: %s", len(got), got)
	}
	var ev Event
	if err := json.Unmarshal(got[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "run-1-020-approval-requested" || ev.Text != first.Text || ev.Link != "https://meshflow.example.com/inbox#refresh%2Ffinance%2Fglobal-kpis%2Fmanual-1" {
		t.Errorf("got %+v", ev)
	}
	if left, _ := st.List(ctx, layout.NotifyOutbox.Prefix()); len(left) != 0 {
		t.Errorf("outbox keeps %d events", len(left))
	}
}

func TestFailingChannelEndsAsDeadLetterAfterRetries(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	down := &receiver{status: http.StatusServiceUnavailable}
	up := &receiver{}
	dsrv, usrv := httptest.NewServer(down), httptest.NewServer(up)
	defer dsrv.Close()
	defer usrv.Close()
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	s := &Sender{Store: st, Logger: quiet, Registerer: reg, MaxAttempts: 3, Backoff: time.Minute, Now: func() time.Time { return now },
		Routes: routes(
			spec.Notification{Name: "down", Webhook: dsrv.URL, Format: spec.FormatSlack, Events: []string{spec.EventApprovalRequested}},
			spec.Notification{Name: "up", Webhook: usrv.URL, Format: spec.FormatTeams, Events: []string{spec.EventApprovalRequested}})}
	if err := (Outbox{Store: st}).Write(ctx, SeqApproval, approval("run-1")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Once(ctx); err != nil || n != 0 {
		t.Fatalf("first pass: %d, %v; want the event to wait for the down channel", n, err)
	}
	// Within the backoff nothing is tried again.
	if _, err := s.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if len(down.got()) != 1 || len(up.got()) != 1 {
		t.Fatalf("down got %d, up got %d; want 1 and 1", len(down.got()), len(up.got()))
	}
	for i := 0; i < 2; i++ {
		now = now.Add(time.Hour)
		if _, err := s.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(down.got()) != 3 || len(up.got()) != 1 {
		t.Fatalf("down got %d (want 3 attempts), up got %d (want 1: never again)", len(down.got()), len(up.got()))
	}
	r, _, err := st.Get(ctx, layout.NotifyDeadKey("run-1", SeqApproval, "down"))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	defer r.Close()
	var dl DeadLetter
	if err := json.NewDecoder(r).Decode(&dl); err != nil {
		t.Fatal(err)
	}
	if dl.Channel != "down" || dl.Attempts != 3 || !strings.Contains(dl.LastError, "503") || dl.Event.ID != "run-1-020-approval-requested" {
		t.Errorf("dead letter %+v", dl)
	}
	if left, _ := st.List(ctx, layout.NotifyOutbox.Prefix()); len(left) != 0 {
		t.Errorf("the outbox keeps the dead event: %v", left)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP meshflow_notify_dead_letters_total Notifications a channel never took, kept under _notify/dead/, by channel and event.
# TYPE meshflow_notify_dead_letters_total counter
meshflow_notify_dead_letters_total{channel="down",event="approval-requested"} 1
# HELP meshflow_notify_sent_total Notifications a channel took, by channel (the name in mesh.yaml) and event.
# TYPE meshflow_notify_sent_total counter
meshflow_notify_sent_total{channel="up",event="approval-requested"} 1
`), "meshflow_notify_dead_letters_total", "meshflow_notify_sent_total"); err != nil {
		t.Error(err)
	}
}

func TestRejectedPayloadIsDeadAtOnce(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	bad := &receiver{status: http.StatusBadRequest}
	srv := httptest.NewServer(bad)
	defer srv.Close()
	s := &Sender{Store: st, Logger: quiet, Registerer: prometheus.NewRegistry(),
		Routes: routes(spec.Notification{Name: "bad", Webhook: srv.URL, Events: []string{spec.EventFailed}})}
	ev := approval("run-9")
	ev.Kind = spec.EventFailed
	if err := (Outbox{Store: st}).Write(ctx, SeqEnd, ev); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Once(ctx); err != nil || n != 1 {
		t.Fatalf("Once = %d, %v", n, err)
	}
	if _, err := st.Head(ctx, layout.NotifyDeadKey("run-9", SeqEnd, "bad")); err != nil || len(bad.got()) != 1 {
		t.Errorf("a 400 is not dead at once: %v, %d tries", err, len(bad.got()))
	}
	// The run's last event was sent: its markers are gone.
	if m, _ := st.List(ctx, layout.NotifyOutbox.SentPrefix("run-9")); len(m) != 0 {
		t.Errorf("sent markers stay: %v", m)
	}
}

// smtpReceiver is a small SMTP server: enough of RFC 5321 (EHLO, MAIL, RCPT,
// DATA, QUIT) to take one message per connection.
type smtpReceiver struct {
	ln net.Listener
	// tls, when set, is offered as STARTTLS, and AUTH PLAIN after it.
	tls  *tls.Config
	mu   sync.Mutex
	msgs []smtpMessage
	auth []string
	tlsd bool
}

type smtpMessage struct {
	from string
	to   []string
	data string
}

func startSMTP(t *testing.T, cfg *tls.Config) *smtpReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpReceiver{ln: ln, tls: cfg}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpReceiver) serve(conn net.Conn) {
	var c net.Conn = conn
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	say("220 test ESMTP")
	var m smtpMessage
	secure := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "EHLO" || verb == "HELO":
			say("250-test")
			switch {
			case s.tls != nil && !secure:
				say("250-STARTTLS")
			case s.tls != nil:
				say("250-AUTH PLAIN")
			}
			say("250 8BITMIME")
		case verb == "STARTTLS" && s.tls != nil:
			say("220 go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r, secure = tc, bufio.NewReader(tc), true
			s.mu.Lock()
			s.tlsd = true
			s.mu.Unlock()
		case verb == "AUTH" && secure:
			s.mu.Lock()
			s.auth = append(s.auth, line)
			s.mu.Unlock()
			say("235 ok")
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			if s.tls != nil && !secure {
				say("530 must issue STARTTLS first")
				continue
			}
			m.from = addrOf(line[len("MAIL FROM:"):])
			say("250 ok")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			m.to = append(m.to, addrOf(line[len("RCPT TO:"):]))
			say("250 ok")
		case verb == "DATA":
			say("354 go on")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			m.data = data.String()
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			m = smtpMessage{}
			say("250 queued")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// addrOf reads the address of a MAIL FROM or RCPT TO path, "<a@b> PARAMS".
func addrOf(path string) string {
	a, _, _ := strings.Cut(strings.TrimSpace(path), ">")
	return strings.TrimPrefix(a, "<")
}

func (s *smtpReceiver) got() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

func TestEmailReachesAnSMTPReceiver(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	smtpd := startSMTP(t, nil)
	m := &SMTP{Addr: smtpd.ln.Addr().String(), From: "meshflow@acme.example"}
	s := &Sender{Store: st, Logger: quiet, Mail: m, From: m.From, PublicURL: "http://127.0.0.1:8080", Registerer: prometheus.NewRegistry(),
		Routes: routes(spec.Notification{Name: "mail", Email: []string{"maria.rossi@acme.example", "li.wei@acme.example"}, Events: []string{spec.EventApprovalRequested}})}
	if err := (Outbox{Store: st}).Write(ctx, SeqApproval, approval("run-1")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Once(ctx); err != nil || n != 1 {
		t.Fatalf("Once = %d, %v", n, err)
	}
	msgs := smtpd.got()
	if len(msgs) != 1 {
		t.Fatalf("the receiver got %d messages", len(msgs))
	}
	got := msgs[0]
	if got.from != "meshflow@acme.example" || strings.Join(got.to, ",") != "maria.rossi@acme.example,li.wei@acme.example" {
		t.Errorf("envelope from %q to %v", got.from, got.to)
	}
	header, body, ok := strings.Cut(got.data, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header/body split:\n%s", got.data)
	}
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Subject: [meshflow] Approval requested: finance/global-kpis", "Message-ID: <run-1-020-approval-requested@meshflow>", "To: maria.rossi@acme.example, li.wei@acme.example"} {
		if !strings.Contains(header, want) {
			t.Errorf("the header lacks %q:\n%s", want, header)
		}
	}
	for _, want := range []string{"Open in the inbox: http://127.0.0.1:8080/inbox#refresh%2Ffinance%2Fglobal-kpis%2Fmanual-1", "Approvers: maria.rossi", "Review it in the inbox."} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the body lacks %q:\n%s", want, text)
		}
	}
}

func TestEmailWithoutSMTPFailsAndRetries(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	s := &Sender{Store: st, Logger: quiet, Registerer: prometheus.NewRegistry(), MaxAttempts: 2,
		Routes: routes(spec.Notification{Name: "mail", Email: []string{"maria.rossi@acme.example"}, Events: []string{spec.EventApprovalRequested}})}
	if err := (Outbox{Store: st}).Write(ctx, SeqApproval, approval("run-1")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Once(ctx); err != nil || n != 0 {
		t.Fatalf("Once = %d, %v; want the event to wait", n, err)
	}
	r, _, err := st.Get(ctx, layout.NotifyStateKey("run-1", SeqApproval))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	if !strings.Contains(string(b), "MESHFLOW_SMTP_ADDR") {
		t.Errorf("state %s does not say what to set", b)
	}
}

func TestOutboxWriteIsCreateOnly(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	ev := approval("run-1")
	if err := (Outbox{Store: st}).Write(ctx, SeqApproval, ev); err != nil {
		t.Fatal(err)
	}
	ev.Title = "second"
	if err := (Outbox{Store: st}).Write(ctx, SeqApproval, ev); err != nil {
		t.Fatal(err)
	}
	r, _, err := st.Get(ctx, layout.NotifyOutbox.Key("run-1", SeqApproval))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got Event
	if err := json.NewDecoder(r).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Title != "Approval requested: finance/global-kpis" || got.ID != EventID("run-1", SeqApproval, spec.EventApprovalRequested) {
		t.Errorf("outbox holds %+v", got)
	}
}

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestEmailUsesSTARTTLSAndAuthenticates: a server that offers STARTTLS gets
// the message over TLS, after PLAIN authentication with the configured user.
func TestEmailUsesSTARTTLSAndAuthenticates(t *testing.T) {
	cert, pool := selfSigned(t)
	smtpd := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	m := &SMTP{Addr: smtpd.ln.Addr().String(), User: "meshflow", Password: "s3cret", From: "meshflow@acme.example",
		TLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	ev := approval("run-1")
	ev.ID = EventID("run-1", SeqApproval, ev.Kind)
	if err := m.Send(context.Background(), []string{"maria.rossi@acme.example"}, Mail(m.From, []string{"maria.rossi@acme.example"}, ev)); err != nil {
		t.Fatal(err)
	}
	smtpd.mu.Lock()
	defer smtpd.mu.Unlock()
	want := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00meshflow\x00s3cret"))
	if !smtpd.tlsd || len(smtpd.auth) != 1 || smtpd.auth[0] != want || len(smtpd.msgs) != 1 {
		t.Errorf("tls %v, auth %q (want %q), %d messages", smtpd.tlsd, smtpd.auth, want, len(smtpd.msgs))
	}
	// A server whose certificate nobody trusts gets nothing.
	plain := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	noTLS := &SMTP{Addr: plain.ln.Addr().String(), From: "meshflow@acme.example",
		TLS: &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	if err := noTLS.Send(context.Background(), []string{"a@b.example"}, []byte("x")); err == nil {
		t.Error("a certificate nobody trusts: sent anyway")
	}
}

// TestSMTPRefusalsForGoodAreRejections: a 5xx answer is a rejection (the
// event is dead at once), a 4xx one is retried.
func TestSMTPRefusalsForGoodAreRejections(t *testing.T) {
	m := &SMTP{Addr: "mail.example:25"}
	if err := m.fail(&textproto.Error{Code: 550, Msg: "no such user"}); !errors.Is(err, outbox.ErrRejected) {
		t.Errorf("550: %v, want a rejection", err)
	}
	if err := m.fail(&textproto.Error{Code: 451, Msg: "try later"}); errors.Is(err, outbox.ErrRejected) || err == nil {
		t.Errorf("451: %v, want an error to retry", err)
	}
}

// TestLateProductIsToldOncePerVersion: a product older than its contract's
// freshness SLA gets one product-late event per late version; a fresh one none.
func TestLateProductIsToldOncePerVersion(t *testing.T) {
	ctx := context.Background()
	st := testStore(t)
	const sla = "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nname: orders\nversion: 1.0.0\nstatus: active\n" +
		"slaProperties:\n  - property: frequency\n    value: 1\n    unit: d\n"
	publishtest.Publish(t, st, publishtest.Version{Ref: "finance/ledger", At: time.Now().Add(-48 * time.Hour), Contract: sla, RunID: "run-old"})
	publishtest.Publish(t, st, publishtest.Version{Ref: "sales/orders", At: time.Now().Add(-time.Hour), Contract: sla, RunID: "run-new"})
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := &Sender{Store: st, Logger: quiet, Registerer: prometheus.NewRegistry(), PublicURL: "https://meshflow.example.com",
		Routes: routes(spec.Notification{Name: "late", Webhook: srv.URL, Events: []string{spec.EventProductLate}})}
	for range 2 {
		if n, err := s.CheckLate(ctx); err != nil || n != 1 {
			t.Fatalf("CheckLate = %d, %v; want the ledger late", n, err)
		}
		if _, err := s.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := rcv.got()
	if len(got) != 1 {
		t.Fatalf("the webhook got %d events, want one", len(got))
	}
	var ev Event
	if err := json.Unmarshal(got[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != spec.EventProductLate || ev.Product != "finance/ledger" || ev.Version != "1.0.0" || ev.Run.RunID != "run-old" ||
		!strings.Contains(ev.Text, "within 24h0m0s") || ev.Link != "https://meshflow.example.com/products/finance/ledger" {
		t.Errorf("late event %+v", ev)
	}
	schema := compileSchema(t)
	doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(string(got[0])))
	if err := schema.Validate(doc); err != nil {
		t.Error(err)
	}
}
