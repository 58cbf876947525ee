package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/web"
	"github.com/meshflow/meshflow/internal/mesh/meshcheck"
	"github.com/meshflow/meshflow/internal/mesh/meshrev/meshrevtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/worker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// tokenAuth is an authenticator with fixed tokens, as auth's token store is.
type tokenAuth map[string]string

func (a tokenAuth) Authenticate(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", errors.New("no Authorization: Bearer header")
	}
	if p, ok := a[tok]; ok {
		return p, nil
	}
	return "", errors.New("unknown token")
}

// browser starts a headless Chromium and returns a context to drive it.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("MESHFLOW_SKIP_BROWSER") == "1" {
			t.Skipf("MESHFLOW_SKIP_BROWSER=1 and no %s: install it with: sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium (or scripts/install-test-tools.sh)", chromiumPath)
		}
		t.Fatalf("no %s: install it with: sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium (or run scripts/install-test-tools.sh); set MESHFLOW_SKIP_BROWSER=1 to skip", chromiumPath)
	}
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("%s is not executable: %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		// Without these, Chromium's own connections are refused by a closed network
		// and it stalls.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// do runs browser steps with a deadline.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// read runs a browser action that returns a value, with a deadline.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// innerText reads the rendered text of the first element that matches a CSS
// selector, as the page shows it.
func innerText(sel string) chromedp.Action[string] {
	q, _ := json.Marshal(sel)
	return chromedp.Evaluate[string](fmt.Sprintf("document.querySelector(%s).innerText", q))
}

// TestBrowser publishes the example mesh on an in-process Temporal server, serves
// the pages, and drives them in headless Chromium: a finance steward signs in,
// approves the KPIs from the inbox with a comment and sees them published; the
// catalog search finds them by text and by a glossary synonym; the product page
// shows the schema, glossary links, versions, lineage and the approval.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal and a browser")
	}
	bctx := browser(t)

	srv, tc := devservertest.StartMesh(t)
	res := meshcheck.Check(t.Context(), filepath.Join("..", "..", "..", "examples", "mesh"))
	if res.Diagnostics.HasErrors() {
		t.Fatalf("example mesh: %v", res.Diagnostics.Err())
	}
	set := res.Set
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mesh := meshrevtest.New(t, st)
	mesh.Apply(t, set, nil)
	ctl := &control.Client{Temporal: tc, Namespace: srv.Namespace(), Signer: mesh.Signer}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	acts := &activities.Activities{Store: st, Scratch: t.TempDir(), Threads: 2, Logger: quiet}
	for _, d := range set.Mesh.Domains {
		w := worker.New(tc, d.Queue(), acts, worker.Options{Identity: "web-" + d.Name})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	// The products without product inputs; the KPIs follow them and wait for a
	// finance steward.
	for _, p := range set.Order() {
		if slices.ContainsFunc(p.Inputs, func(in spec.Input) bool { return in.Product != "" }) {
			continue
		}
		rq := control.Refresh{Ref: p.Ref(), TaskQueue: set.Domain(p.Metadata.Domain).Queue(), Principal: "chen.jie", Reason: "browser test", Suffix: "web"}
		if _, err := ctl.Start(t.Context(), rq); err != nil {
			t.Fatal(err)
		}
	}
	// The KPIs read the restricted EMEA sales: the EMEA steward grants finance
	// the access its run asks for.
	testwait.For(t, 3*time.Minute, "finance's access request for the EMEA sales", func() bool {
		asks, _ := ctl.PendingAccess(t.Context(), "sales-emea/regional-sales")
		return len(asks) == 1
	})
	if _, err := ctl.DecideAccess(t.Context(), "sales-emea/regional-sales", access.Decision{Principal: "anna.schmidt", Approve: true}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 3*time.Minute, "finance/global-kpis to wait for approval", func() bool {
		p, _ := ctl.Pending(t.Context(), "finance/global-kpis")
		return len(p) > 0
	})

	const ui = "http://temporal-ui.test"
	reg := prometheus.NewRegistry()
	h := web.New(web.Deps{Store: st, Mesh: set, Control: ctl, Decisions: api.NewDecisions(ctl, reg, quiet), Auth: tokenAuth{"tok-maria": "maria.rossi", "tok-li": "li.wei"},
		TemporalUI: ui, Logger: quiet, IndexTTL: time.Second})
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	base := hs.URL

	// (3) A finance steward signs in, finds the KPIs with their evidence and approves.
	kpis := `article.pending[data-product="finance/global-kpis"]`
	do(t, bctx, "sign in and open the inbox",
		chromedp.Navigate(base+"/signin?next=/inbox"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "tok-maria"),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS(kpis)),
	)
	if who := read(t, bctx, "who is signed in", innerText("#principal")); who != "maria.rossi" {
		t.Errorf("signed in as %q, want maria.rossi", who)
	}
	inbox := read(t, bctx, "read the evidence", innerText(kpis))
	for _, want := range []string{"Submitted by", "rows in =", "Failing rows", "net_revenue_usd_1", "pass", "Contract changes",
		"No failing rows", "Approve", "Reject"} {
		if !strings.Contains(inbox, want) {
			t.Errorf("inbox entry lacks %q:\n%s\n%s", want, inbox, read(t, bctx, "inbox HTML", chromedp.OuterHTML(chromedp.CSS(kpis))))
		}
	}
	const comment = "Reconciled with the ledger, browser test"
	do(t, bctx, "approve with a comment",
		chromedp.SendKeys(chromedp.CSS(kpis+` textarea[name="comment"]`), comment),
		chromedp.Click(chromedp.CSS(kpis+` button.approve`)),
		chromedp.WaitVisible(chromedp.ID("decided")),
	)
	if decided := read(t, bctx, "the decision page", innerText("#decided")); !strings.Contains(decided, "finance/global-kpis") {
		t.Errorf("after approving: %q", decided)
	}
	// The inbox's decision went the API's path: counted once, like the API's.
	want := `
# HELP meshflow_approvals_decided_total Decisions delivered through the API or the web inbox and accepted by the run, by decision (approve, reject).
# TYPE meshflow_approvals_decided_total counter
meshflow_approvals_decided_total{decision="approve"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshflow_approvals_decided_total"); err != nil {
		t.Error(err)
	}
	testwait.For(t, 2*time.Minute, "finance/global-kpis 1.0.0 to be published", func() bool {
		e, err := catalog.Show(t.Context(), st, "finance/global-kpis")
		return err == nil && e.Latest.Version == "1.0.0"
	})
	do(t, bctx, "the inbox is empty after the decision",
		chromedp.Navigate(base+"/inbox"),
		chromedp.WaitVisible(chromedp.ID("inbox-empty")))

	// (1) The catalog search for "net revenue" finds finance's KPIs and not the
	// supply-chain product; the glossary synonym net-sales finds them too.
	do(t, bctx, "search the catalog",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("q")),
		chromedp.SendKeys(chromedp.ID("q"), "net revenue"),
		chromedp.Click(chromedp.ID("go")),
		// The value attribute is the server's: only the results page has it.
		chromedp.WaitVisible(chromedp.CSS(`#q[value="net revenue"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#results tr[data-ref="finance/global-kpis"]`)),
	)
	results := read(t, bctx, "search results", chromedp.OuterHTML(chromedp.ID("results")))
	if strings.Contains(results, "supply-chain/delivery-performance") {
		t.Errorf("search for net revenue lists the supply-chain product:\n%s", results)
	}
	do(t, bctx, "filter by a glossary synonym",
		chromedp.Navigate(base+"/?term=net-sales"),
		chromedp.WaitVisible(chromedp.CSS(`#results tr[data-ref="finance/global-kpis"]`)),
	)
	results = read(t, bctx, "filtered results", chromedp.OuterHTML(chromedp.ID("results")))
	if strings.Contains(results, "supply-chain/") || strings.Contains(results, "finance/fx-rates") {
		t.Errorf("term filter net-sales lists products without net revenue:\n%s", results)
	}

	// (2) The product page.
	do(t, bctx, "open the product page",
		chromedp.Navigate(base+"/products/finance/global-kpis"),
		chromedp.WaitVisible(chromedp.ID("schema-table")),
		chromedp.WaitVisible(chromedp.ID("lineage-svg")),
	)
	schema := read(t, bctx, "schema", innerText("#schema-table"))
	versions := read(t, bctx, "versions", innerText("#versions-table"))
	lineage := read(t, bctx, "lineage", chromedp.OuterHTML(chromedp.ID("lineage-svg")))
	snippet := read(t, bctx, "DuckDB snippet", innerText("#duckdb"))
	glossary := read(t, bctx, "glossary link", chromedp.AttributeValue(chromedp.CSS(`#schema-table a.glossary[href="/?term=net-revenue"]`), "href"))
	runLink := read(t, bctx, "run link", chromedp.AttributeValue(chromedp.CSS(`#versions-table a`), "href"))
	shot := read(t, bctx, "screenshot", chromedp.FullScreenshot(100))
	for _, col := range []string{"day", "region", "units", "net_revenue_usd", "business-day", "units-sold"} {
		if !strings.Contains(schema, col) {
			t.Errorf("schema lacks %q:\n%s", col, schema)
		}
	}
	if glossary.Value != "/?term=net-revenue" {
		t.Errorf("glossary link: %+v", glossary)
	}
	for _, want := range []string{"v1.0.0", "maria.rossi", comment} {
		if !strings.Contains(versions, want) {
			t.Errorf("versions table lacks %q:\n%s", want, versions)
		}
	}
	if !strings.HasPrefix(runLink.Value, ui+"/namespaces/"+srv.Namespace()+"/workflows/refresh%2Ffinance%2Fglobal-kpis%2F") {
		t.Errorf("run link %q does not point at the Temporal UI", runLink.Value)
	}
	for _, want := range []string{"regional-sales", "fx-rates", "/products/sales-china/regional-sales", "global-kpis"} {
		if !strings.Contains(lineage, want) {
			t.Errorf("lineage lacks %q:\n%s", want, lineage)
		}
	}
	if !strings.Contains(snippet, "SELECT * FROM read_parquet('file://") || !strings.Contains(snippet, "finance/global-kpis/v1.0.0/") {
		t.Errorf("DuckDB snippet: %q", snippet)
	}
	png := filepath.Join(t.TempDir(), "product.png")
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("MESHFLOW_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "product.png"), shot, 0o644)
	}
	t.Logf("product page screenshot: %s (%d bytes)", png, len(shot))

	// The runs page lists the KPIs' run, live from Temporal.
	do(t, bctx, "runs page",
		chromedp.Navigate(base+"/runs?product=finance/global-kpis"),
		chromedp.WaitVisible(chromedp.CSS("table.runs")))
	runs := read(t, bctx, "runs", innerText("table.runs"))
	if !strings.Contains(runs, "published v1.0.0") {
		t.Errorf("runs of the KPIs:\n%s", runs)
	}
}
