package deploy

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/metrics"
	"github.com/meshflow/meshflow/internal/metrics/meshstate"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/internal/temporal/sdkmetrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.yaml.in/yaml/v3"
)

// metricName matches the meshflow and Temporal SDK metric names in a PromQL
// expression; label values such as job="meshflow-worker" do not match.
var metricName = regexp.MustCompile(`\b(?:meshflow|temporal)_[a-zA-Z0-9_]+`)

func TestReferencedMetricsExist(t *testing.T) {
	exprs := alertExprs(t, "prometheus/alerts.yaml")
	if len(exprs) < 4 {
		t.Fatalf("alerts.yaml has %d rules, want at least 4", len(exprs))
	}
	dash := dashboardExprs(t, "grafana/meshflow-dashboard.json")
	if len(dash) < 10 {
		t.Fatalf("the dashboard has %d queries, want at least 10", len(dash))
	}
	families := exported(t)
	check := func(where string, exprs []string) {
		for _, e := range exprs {
			for _, name := range metricName.FindAllString(e, -1) {
				if !exists(families, name) {
					t.Errorf("%s: %s is not exported (in %s)", where, name, e)
				}
			}
		}
	}
	check("alerts.yaml", exprs)
	check("meshflow-dashboard.json", dash)
}

func TestAlertNames(t *testing.T) {
	var f ruleFile
	readYAML(t, "prometheus/alerts.yaml", &f)
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	for _, want := range []string{"MeshflowProductLate", "MeshflowRuleFailing", "MeshflowApprovalWaitingTooLong", "MeshflowWorkerDown"} {
		if !slices.Contains(names, want) {
			t.Errorf("alerts.yaml has no %s (has %v)", want, names)
		}
	}
}

// exists reports whether name is an exported family, or a histogram's or
// summary's _bucket, _sum or _count series.
func exists(families map[string]dto.MetricType, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch families[base] {
		case dto.MetricType_HISTOGRAM:
			return true
		case dto.MetricType_SUMMARY:
			return suffix != "_bucket"
		}
	}
	return false
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// ruleFile is a Prometheus rule file; unknown keys are errors.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func alertExprs(t *testing.T, file string) []string {
	t.Helper()
	var f ruleFile
	readYAML(t, file, &f)
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("%s: a rule of group %s has no alert name or no expr", file, g.Name)
			}
			out = append(out, r.Expr)
		}
	}
	return out
}

// dashboardExprs returns every panel query and template variable query.
func dashboardExprs(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", file, p.Title)
		}
		for _, q := range p.Targets {
			out = append(out, q.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if s, ok := v.Query.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// exported builds the registry a worker serves, makes every series exist once
// (the refresh metrics by recording, the state metrics from a published product
// and a pending run, the SDK's by running a workflow on a real server), and
// returns the families by name.
func exported(t *testing.T) map[string]dto.MetricType {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	const ref = "sales/orders"
	m.Stage(ref, refresh.StageIngesting, time.Second)
	m.Validated(ref, refresh.Quality{RowsIn: 2, RowsOut: 1, Quarantined: 1,
		Rules: []refresh.RuleSummary{{ID: "r", Severity: "error", Status: "fail", Failing: 1}}})
	m.Finished(ref, refresh.StagePublished)
	m.Decided(ref, refresh.WaitApproved, time.Minute)

	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publish(t, st, ref, time.Now().Add(-time.Hour))
	reg.MustRegister(meshstate.New(meshstate.Config{Store: st,
		Runs: pendingRuns{{Product: ref, Status: "Running", Start: time.Now()}}}))

	sdkMetrics(t, reg)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dto.MetricType{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetType()
		if testing.Verbose() && strings.HasPrefix(mf.GetName(), "temporal_") {
			t.Logf("%s %s", mf.GetName(), mf.GetType())
		}
	}
	return out
}

type pendingRuns []control.Run

func (p pendingRuns) Runs(context.Context, string, refresh.Stage, int) ([]control.Run, error) {
	return p, nil
}

func publish(t *testing.T, st storage.Store, ref string, at time.Time) {
	t.Helper()
	publishtest.Publish(t, st, publishtest.Version{Ref: ref, At: at,
		Contract: "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nname: orders\nversion: 1.0.0\nstatus: active\n" +
			"slaProperties:\n  - property: frequency\n    value: 1\n    unit: d\n"})
}

// sdkMetrics runs a workflow with an activity on a worker whose client reports
// into reg, then flushes the SDK's metrics.
func sdkMetrics(t *testing.T, reg prometheus.Registerer) {
	t.Helper()
	srv, _ := devservertest.Start(t, nil)
	handler, closer := sdkmetrics.NewHandler(reg, nil)
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), MetricsHandler: handler})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queue = "deploy-test"
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		// Not eager: an eagerly started activity has no schedule-to-start latency.
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, DisableEagerExecution: true})
		return workflow.ExecuteActivity(ctx, "noop").Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "noop-workflow"})
	w.RegisterActivityWithOptions(func(context.Context) error { return nil }, activityName("noop"))
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{TaskQueue: queue}, "noop-workflow")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
}

func activityName(name string) activity.RegisterOptions { return activity.RegisterOptions{Name: name} }
