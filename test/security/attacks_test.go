package security

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/http/serve"
	"github.com/meshflow/meshflow/internal/http/web"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// attack is one way around the trust boundary; try returns nil when the
// attack was refused and left no trace, else what got through.
type attack struct {
	name string
	try  func(t *testing.T, e *env) error
}

// TestAttacks tries every attack of the table against a real Temporal server,
// real workers with DuckDB and a real store, as an outsider with raw Temporal
// access, a crafted spec or crafted HTTP requests would, and prints how many
// it tried and how many were refused.
func TestAttacks(t *testing.T) {
	e := newEnv(t)
	// other/secret is published, so that there is something to steal.
	if res, err := e.Result(e.startRef("other/secret", "setup", owner), runTimeout); err != nil || res.Stage != refresh.StagePublished {
		t.Fatalf("publish other/secret: %+v, %v", res, err)
	}
	attacks := slices.Concat(workflowAttacks(), decisionAttacks(), activityAttacks(), sandboxAttacks(e), httpAttacks())
	refused := 0
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			if err := a.try(t, e); err != nil {
				t.Errorf("NOT REFUSED: %v", err)
				return
			}
			refused++
		})
	}
	fmt.Printf("security suite: %d attacks tried, %d refused\n", len(attacks), refused)
	if refused != len(attacks) {
		t.Errorf("%d of %d attacks got through", len(attacks)-refused, len(attacks))
	}
}

// raw starts ProductRefresh the way an attacker with Temporal access does.
func raw(e *env, id, queue string, in refresh.RefreshInput) (refresh.Result, error) {
	run, err := e.Temporal.ExecuteWorkflow(e.T.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: queue}, refresh.WorkflowProductRefresh, in)
	if err != nil {
		return refresh.Result{}, err
	}
	return e.Result(run, runTimeout)
}

// wantUnauthorized checks that a run was refused with ErrUnauthorized and left
// nothing of ref behind.
func wantUnauthorized(e *env, ref string, res refresh.Result, err error) error {
	if harness.ErrType(err) != refresh.ErrUnauthorized {
		return fmt.Errorf("the run ended %+v, %v; want %s", res, err, refresh.ErrUnauthorized)
	}
	return e.noTrace(ref)
}

func workflowAttacks() []attack {
	return []attack{
		{"forged governance: the whole product in the input, approval never", func(t *testing.T, e *env) error {
			forged := e.product("target", "never", "SELECT id, amount FROM orders")
			res, err := raw(e, "refresh/sec/target/forged-governance", secQueue, refresh.RefreshInput{Product: forged, Submitter: "mallory"})
			return wantUnauthorized(e, "sec/target", res, err)
		}},
		{"unsigned request naming the product", func(t *testing.T, e *env) error {
			res, err := raw(e, "refresh/sec/target/unsigned", secQueue, refresh.RefreshInput{Ref: "sec/target", Trigger: refresh.TriggerRequest, Submitter: steward})
			return wantUnauthorized(e, "sec/target", res, err)
		}},
		{"request signed by a key the revision does not hold", func(t *testing.T, e *env) error {
			mallory, err := signing.NewSigner()
			if err != nil {
				return err
			}
			const id = "refresh/sec/target/foreign-key"
			st, proof := mallory.Sign(refresh.RequestStatement(id, "sec/target", steward, "manual", ""), time.Now())
			res, err := raw(e, id, secQueue, refresh.RefreshInput{Ref: "sec/target", Request: &signing.Signed{Statement: st, Proof: proof}})
			return wantUnauthorized(e, "sec/target", res, err)
		}},
		{"a signed request replayed from a run's history", func(t *testing.T, e *env) error {
			run := e.startRef("sec/base", "replay-source", submitter)
			e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, time.Minute)
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			hist := e.Temporal.GetWorkflowHistory(t.Context(), run.GetID(), run.GetRunID(), false, 0)
			ev, err := hist.Next()
			if err != nil {
				return err
			}
			var in refresh.RefreshInput
			if err := json.Unmarshal(ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0].GetData(), &in); err != nil {
				return err
			}
			in.Submitter = "mallory"
			res, err := raw(e, "refresh/sec/base/replayed", secQueue, in)
			if harness.ErrType(err) != refresh.ErrUnauthorized {
				return fmt.Errorf("the replayed request ran: %+v, %v", res, err)
			}
			return nil
		}},
		{"a propagated run without a parent", func(t *testing.T, e *env) error {
			res, err := raw(e, "refresh/sec/target/orphan", secQueue, refresh.RefreshInput{Ref: "sec/target", Trigger: refresh.TriggerPropagation, Submitter: "mallory"})
			return wantUnauthorized(e, "sec/target", res, err)
		}},
		{"a run on another domain's task queue", func(t *testing.T, e *env) error {
			const id = "refresh/sec/target/wrong-queue"
			st, proof := e.Mesh.Signer.Sign(refresh.RequestStatement(id, "sec/target", submitter, "manual", ""), time.Now())
			res, err := raw(e, id, otherQueue, refresh.RefreshInput{Ref: "sec/target", Request: &signing.Signed{Statement: st, Proof: proof}})
			return wantUnauthorized(e, "sec/target", res, err)
		}},
		{"a forged scheduled run still waits for sign-off, submitted by the applier", func(t *testing.T, e *env) error {
			run, err := e.Temporal.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: "refresh/sec/base/forged-schedule", TaskQueue: secQueue},
				refresh.WorkflowProductRefresh, refresh.RefreshInput{Ref: "sec/base", Trigger: refresh.TriggerSchedule, Submitter: "mallory"})
			if err != nil {
				return err
			}
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			st := e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, time.Minute)
			if st.Submitter == "mallory" {
				return errors.New("the run took its submitter from the input")
			}
			return nil
		}},
		{"a forged scheduled run pinned to an older revision (approval never)", func(t *testing.T, e *env) error {
			old := e.Mesh.Products(t, e.product("target", "never", "SELECT id, amount FROM orders"))
			e.rev = e.publish() // the suite's mesh is current again
			run, err := e.Temporal.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: "refresh/sec/target/rollback", TaskQueue: secQueue},
				refresh.WorkflowProductRefresh, refresh.RefreshInput{Ref: "sec/target", Trigger: refresh.TriggerSchedule, Revision: old})
			if err != nil {
				return err
			}
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			st := e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, time.Minute)
			if st.Revision != e.rev {
				return fmt.Errorf("the run resolved revision %s, not the current %s", st.Revision, e.rev)
			}
			return e.noTraceOfVersions("sec/target")
		}},
		{"an input URI into the mesh's own store (another domain's published data)", func(t *testing.T, e *env) error {
			res, err := e.Result(e.startRef("sec/store-reader", "store", submitter), runTimeout)
			if harness.ErrType(err) != refresh.ErrUnauthorized {
				return fmt.Errorf("the run ended %+v, %v; want %s", res, err, refresh.ErrUnauthorized)
			}
			return e.noTrace("sec/store-reader")
		}},
		{"an input URI that is a symbolic link into the mesh's own store", func(t *testing.T, e *env) error {
			res, err := e.Result(e.startRef("sec/link-reader", "link", submitter), runTimeout)
			if harness.ErrType(err) != refresh.ErrUnauthorized {
				return fmt.Errorf("the run ended %+v, %v; want %s", res, err, refresh.ErrUnauthorized)
			}
			return e.noTrace("sec/link-reader")
		}},
		{"a forged latest pointer of an open product naming a restricted product's manifest", func(t *testing.T, e *env) error {
			// Someone who may write sec's objects (its workers' credentials)
			// points sec/alias at other/secret's published version.
			h, found, err := catalog.ReadLatest(t.Context(), e.Store, "other/secret")
			if err != nil || !found {
				return fmt.Errorf("read other/secret: %v, %v", found, err)
			}
			b, _ := json.Marshal(h.Pointer)
			if _, err := e.Store.Put(t.Context(), layout.LatestKey("sec/alias"), bytes.NewReader(b), storage.PutOptions{}); err != nil {
				return err
			}
			defer e.Store.Delete(context.Background(), layout.LatestKey("sec/alias"))
			if entries, err := catalog.List(t.Context(), e.Store); err != nil || slices.ContainsFunc(entries, func(en catalog.Entry) bool { return en.Ref == "sec/alias" }) {
				return fmt.Errorf("the catalog lists the forged product: %v", err)
			}
			res, err := e.Result(e.startRef("sec/alias-reader", "alias", submitter), runTimeout)
			if harness.ErrType(err) != refresh.ErrUnauthorized {
				return fmt.Errorf("the run ended %+v, %v; want %s", res, err, refresh.ErrUnauthorized)
			}
			return e.noTrace("sec/alias-reader")
		}},
		{"a parent workflow of the attacker's naming a propagated run's submitter", func(t *testing.T, e *env) error {
			run, err := e.Temporal.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: "evil/parent", TaskQueue: evilQueue}, evilParent)
			if err != nil {
				return err
			}
			defer e.Temporal.TerminateWorkflow(context.Background(), "refresh/sec/target/evil-child", "", "security suite")
			st := e.WaitStage("refresh/sec/target/evil-child", refresh.StageAwaitingApproval, time.Minute)
			_ = run
			if st.Submitter == "mallory-chosen" {
				return errors.New("the attacker's parent chose the submitter")
			}
			return nil
		}},
		{"an access request with the attacker as approver", func(t *testing.T, e *env) error {
			req := access.Request{Product: "other/secret", Requester: "mallory", Purpose: "steal", Duration: time.Hour,
				Owner: "mallory", Approvers: []string{"mallory-friend"}, TaskQueue: otherQueue}
			return e.rawAccess("access/other/secret/mallory/forged", req)
		}},
		{"an access request filed 'for a product' without a refresh", func(t *testing.T, e *env) error {
			req := access.Request{Product: "other/secret", Requester: secTeam, Purpose: "steal", Duration: time.Hour, Trigger: refresh.TriggerPropagation}
			return e.rawAccess("access/other/secret/sec-data/orphan", req)
		}},
		{"a restricted product read without a grant", func(t *testing.T, e *env) error {
			run := e.startRef("sec/reader", "no-grant", submitter)
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			e.WaitStage(run.GetID(), refresh.StageAwaitingAccess, time.Minute)
			return e.noTrace("sec/reader")
		}},
		{"a forged grant file in the store", func(t *testing.T, e *env) error {
			g := access.Grant{ID: "g-forged", Product: "other/secret", Principal: secTeam, Purpose: "forged", GrantedBy: owner,
				GrantedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(time.Hour), WorkflowID: access.WorkflowID("other/secret", secTeam, "forged")}
			if _, err := grants.Record(t.Context(), e.Store, g); err != nil {
				return err
			}
			if _, ok, err := grants.Check(t.Context(), e.Store, secTeam, "other/secret", time.Now()); err != nil || ok {
				return fmt.Errorf("the forged grant allows reading: %v, %v", ok, err)
			}
			if err := meshrev.VerifyGrant(t.Context(), e.Store, g); err == nil {
				return errors.New("the audit would accept the forged grant")
			}
			run := e.startRef("sec/reader", "forged-grant", submitter)
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			e.WaitStage(run.GetID(), refresh.StageAwaitingAccess, time.Minute)
			return e.noTrace("sec/reader")
		}},
	}
}

// rawAccess starts an AccessRequest as an attacker and checks that it was
// refused without a grant.
func (e *env) rawAccess(id string, req access.Request) error {
	run, err := e.Temporal.ExecuteWorkflow(e.T.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: otherQueue}, access.WorkflowAccessRequest, req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.T.Context(), time.Minute)
	defer cancel()
	var res access.Result
	err = run.Get(ctx, &res)
	if harness.ErrType(err) != refresh.ErrUnauthorized {
		return fmt.Errorf("the access request ended %+v, %v; want %s", res, err, refresh.ErrUnauthorized)
	}
	all, err := grants.List(e.T.Context(), e.Store, "other/secret")
	for _, g := range all {
		if g.WorkflowID == id {
			return fmt.Errorf("a grant was recorded: %+v", g)
		}
	}
	return err
}

func decisionAttacks() []attack {
	// waiting starts a legitimate run of sec/base and waits for its approval.
	waiting := func(e *env, suffix string) (client.WorkflowRun, refresh.Status) {
		run := e.startRef("sec/base", suffix, submitter)
		return run, e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, time.Minute)
	}
	update := func(e *env, id string, d refresh.Decision) error {
		h, err := e.Temporal.UpdateWorkflow(e.T.Context(), client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: refresh.UpdateDecide,
			Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(e.T.Context(), nil)
		}
		return err
	}
	stillWaiting := func(e *env, run client.WorkflowRun) error {
		st, err := e.Control.Status(e.T.Context(), run.GetID(), "")
		if err != nil {
			return err
		}
		if st.Stage != refresh.StageAwaitingApproval || len(st.Approvals) != 0 {
			return fmt.Errorf("the run moved on: stage %s, approvals %+v", st.Stage, st.Approvals)
		}
		return e.noTraceOfVersions("sec/base")
	}
	return []attack{
		{"forged sign-off: a decide update with a steward's name and the manifest hash", func(t *testing.T, e *env) error {
			run, st := waiting(e, "forged-update")
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			if err := update(e, run.GetID(), refresh.Decision{Principal: steward, Approve: true, ManifestHash: st.ManifestHash}); err == nil {
				return errors.New("the update was accepted")
			}
			return stillWaiting(e, run)
		}},
		{"forged sign-off as the decide signal", func(t *testing.T, e *env) error {
			run, st := waiting(e, "forged-signal")
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			if err := e.Temporal.SignalWorkflow(t.Context(), run.GetID(), "", refresh.SignalDecide, refresh.Decision{Principal: steward, Approve: true, ManifestHash: st.ManifestHash}); err != nil {
				return err
			}
			var now refresh.Status
			if err := testwait.Poll(30*time.Second, func() error {
				var err error
				if now, err = e.Control.Status(t.Context(), run.GetID(), ""); err == nil && len(now.Refused) != 1 {
					err = errors.New("no refusal recorded")
				}
				return err
			}); err != nil {
				return fmt.Errorf("the signal was not recorded as refused: %+v (%w)", now.Refused, err)
			}
			return stillWaiting(e, run)
		}},
		{"a signed decision replayed on another run", func(t *testing.T, e *env) error {
			first := e.startRef("sec/approved", "replay-decision-1", submitter)
			e.WaitStage(first.GetID(), refresh.StageAwaitingApproval, time.Minute)
			after, err := e.Control.Decide(t.Context(), "", first.GetID(), refresh.Decision{Principal: steward, Approve: true, Comment: "ok"})
			if err != nil {
				return fmt.Errorf("the legitimate decision: %w", err)
			}
			stolen := after.Approvals[0]
			second, st := waiting(e, "replay-decision-2")
			defer e.Temporal.TerminateWorkflow(context.Background(), second.GetID(), "", "security suite")
			if err := update(e, second.GetID(), refresh.Decision{Principal: steward, Approve: true, Comment: "ok", ManifestHash: st.ManifestHash, Proof: stolen.Proof}); err == nil {
				return errors.New("the replayed proof was accepted")
			}
			return stillWaiting(e, second)
		}},
		{"a submitter approving their own run", func(t *testing.T, e *env) error {
			run := e.startRef("sec/self-approved", "self", steward)
			defer e.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "security suite")
			e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, time.Minute)
			if _, err := e.Control.Decide(t.Context(), "", run.GetID(), refresh.Decision{Principal: steward, Approve: true}); err == nil ||
				!strings.Contains(err.Error(), "cannot approve") {
				return fmt.Errorf("the submitter's signed approval: %v", err)
			}
			return e.noTraceOfVersions("sec/self-approved")
		}},
	}
}

// noTraceOfVersions reports a published version of ref.
func (e *env) noTraceOfVersions(ref string) error {
	objs, err := e.Store.List(e.T.Context(), ref+"/")
	if err != nil {
		return err
	}
	if len(objs) > 0 {
		return fmt.Errorf("%s has published objects, e.g. %s", ref, objs[0].Key)
	}
	return nil
}

func sandboxAttacks(e *env) []attack {
	var out []attack
	for name := range e.sandboxEscapes() {
		out = append(out, attack{"sandbox: " + name, func(t *testing.T, e *env) error {
			res, err := e.Result(e.startRef("sec/"+name, "escape", submitter), runTimeout)
			if harness.ErrType(err) != refresh.ErrTransform {
				return fmt.Errorf("the run ended %+v, %v; want %s", res, err, refresh.ErrTransform)
			}
			return e.noTrace("sec/" + name)
		}})
	}
	return out
}

func httpAttacks() []attack {
	return []attack{
		{"open redirects after sign-in", func(t *testing.T, e *env) error {
			h := web.New(web.Deps{Store: e.Store, Auth: tokens{"tok-alice": submitter}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			srv := httptest.NewServer(h)
			defer srv.Close()
			for _, next := range []string{"//evil.example", "/\\evil.example", "/%09/evil.example", "https://evil.example", "javascript:alert(1)", "/%2F%2Fevil.example", "/\t/evil.example"} {
				loc, err := signIn(srv.URL, next)
				if err != nil {
					return err
				}
				u, err := url.Parse(loc)
				if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t") {
					return fmt.Errorf("next=%q signs in to %q", next, loc)
				}
			}
			return nil
		}},
		{"a JWT whose e-mail is not verified", func(t *testing.T, e *env) error {
			return unverifiedJWT()
		}},
		{"a download link used after its grant was revoked", func(t *testing.T, e *env) error {
			return e.linkAfterRevocation()
		}},
	}
}

// signIn posts the sign-in form with next and returns where it redirects.
func signIn(base, next string) (string, error) {
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(base + "/signin?next=" + url.QueryEscape(next))
	if err != nil {
		return "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("no sign-in form (HTTP %d)", resp.StatusCode)
	}
	form := url.Values{"token": {"tok-alice"}, "next": {next}, "csrf": {string(m[1])}}
	req, _ := http.NewRequest(http.MethodPost, base+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = hc.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("sign-in answered HTTP %d", resp.StatusCode)
	}
	return resp.Header.Get("Location"), nil
}

// unverifiedJWT presents a correctly signed JWT of the identity provider whose
// e-mail names a principal but is not verified.
func unverifiedJWT() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	defer idp.Close()
	o, err := auth.NewOIDC(auth.OIDCConfig{Issuer: "https://idp.example/", Audience: "meshflow", JWKSURL: idp.URL},
		[]spec.Principal{{Name: steward, Email: "stella@acme.example"}})
	if err != nil {
		return err
	}
	token := func(claims map[string]any) string {
		h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"})
		c, _ := json.Marshal(claims)
		signed := b64(h) + "." + b64(c)
		sum := sha256.Sum256([]byte(signed))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		return signed + "." + b64(sig)
	}
	claims := map[string]any{"iss": "https://idp.example/", "aud": "meshflow", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
		"sub": "u1", "email": "stella@acme.example"}
	try := func() (string, error) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+token(claims))
		return o.Authenticate(r)
	}
	claims["email_verified"] = true
	if p, err := try(); err != nil || p != steward {
		return fmt.Errorf("the control token with a verified e-mail: %q, %v", p, err)
	}
	for _, v := range []any{false, "true", nil} {
		claims["email_verified"] = v
		if v == nil {
			delete(claims, "email_verified")
		}
		if p, err := try(); err == nil {
			return fmt.Errorf("email_verified=%v authenticates as %s", v, p)
		}
	}
	return nil
}

// linkAfterRevocation grants tom read access to other/secret through the
// access workflow, takes a download link from serve, revokes the grant and
// uses the link.
func (e *env) linkAfterRevocation() error {
	ctx := e.T.Context()
	req := access.Request{Product: "other/secret", Requester: "tom", Purpose: "suite", Duration: time.Hour, TaskQueue: otherQueue}
	run, err := e.Control.RequestAccess(ctx, req, "link")
	if err != nil {
		return err
	}
	var st access.Status
	if err := testwait.Poll(time.Minute, func() error {
		var err error
		if st, err = e.Control.AccessStatus(ctx, run.GetID()); err == nil && (st.Stage != access.StagePending || len(st.Request.Approvers) == 0) {
			err = errors.New("not pending with approvers")
		}
		return err
	}); err != nil {
		return fmt.Errorf("the access request does not wait: %+v, %v", st, err)
	}
	if _, err := e.Control.DecideAccess(ctx, run.GetID(), access.Decision{Principal: owner, Approve: true}); err != nil {
		return err
	}
	api, err := serve.New(serve.Config{Runs: e.Control, Auth: tokens{"tok-tom": "tom"}, Registry: prometheus.NewRegistry(), Store: e.Store,
		Readers: func(string) []string { return []string{owner} }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	get := func(path string) (int, []byte, error) {
		r, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		r.Header.Set("Authorization", "Bearer tok-tom")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	code, body, err := get("/api/v1/products/other/secret/link")
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("the granted link: HTTP %d %s, %v", code, body, err)
	}
	var link struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(body, &link); err != nil {
		return err
	}
	if code, _, err := get(link.URL); err != nil || code != http.StatusOK {
		return fmt.Errorf("the link before revocation: HTTP %d, %v", code, err)
	}
	if _, err := e.Control.RevokeAccess(ctx, run.GetID(), access.Revocation{Principal: owner, Reason: "suite"}); err != nil {
		return err
	}
	if code, b, err := get(link.URL); err != nil || code != http.StatusForbidden || bytes.Contains(b, []byte("PAR1")) {
		return fmt.Errorf("the link after revocation: HTTP %d, %v", code, err)
	}
	return nil
}

// evilQueue is the task queue of the attacker's own worker.
const evilQueue = "evil-q"

// evilParent is the attacker's workflow: it starts a "propagated" refresh of
// sec/target and names its submitter.
func evilParent(ctx workflow.Context) error {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "refresh/sec/target/evil-child", TaskQueue: secQueue,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON})
	in := refresh.RefreshInput{Ref: "sec/target", Trigger: refresh.TriggerPropagation, Submitter: "mallory-chosen", Reason: "after nothing"}
	return workflow.ExecuteChildWorkflow(cctx, refresh.WorkflowProductRefresh, in).GetChildWorkflowExecution().Get(ctx, nil)
}
