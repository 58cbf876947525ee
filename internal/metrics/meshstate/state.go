// Package meshstate is a Prometheus collector of the mesh's state, read at
// scrape time: the freshness and lateness of published products against their
// contracts' SLAs (from the catalog), the inputs of the applied mesh that pin
// a deprecated major version, and the runs waiting for approval (from
// Temporal's visibility). It is apart from package metrics so that the
// activities, which record metrics, do not link the Temporal client.
package meshstate

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
)

// Runs is what the state collector needs from Temporal; *control.Client has it.
type Runs = control.RunLister

// Config configures the state collector. Store and Runs are each optional:
// without Store there are no product series, without Runs no approval series.
type Config struct {
	// Store is the object store the catalog is read from.
	Store storage.Store
	// Runs lists the runs waiting for approval.
	Runs Runs
	// TTL is how long a read of the catalog and of Temporal is reused by later
	// scrapes (default 30s).
	TTL time.Duration
	// Timeout bounds one read (default 10s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// State is a prometheus.Collector of the mesh's state, read at scrape time: the
// published products' freshness against their contracts' SLAs from the catalog,
// and the runs waiting for approval from Temporal's visibility. Both live outside
// the process, so the series are right after a restart and the same on every
// replica; a counter kept by the process would start again from zero.
type State struct {
	cfg Config

	mu       sync.Mutex
	readAt   time.Time
	products []productState
	// deprecated are the inputs pinned to a deprecated major.
	deprecated []deprecatedInput
	pending    map[string][]time.Time // run start times by product ref
	catalogUp  float64
	runsUp     float64

	lastPublish, freshness, sla, late, pendingDesc, oldest, up, deprecatedDesc *prometheus.Desc
}

// deprecatedInput is an input of a product of the applied mesh that pins a
// deprecated major of another.
type deprecatedInput struct {
	product, input string
	dep            refresh.Deprecation
}

type productState struct {
	ref         string
	publishedAt time.Time
	// freshAt is when the latest version was last known current: its
	// publication, or a later run that found the output unchanged.
	freshAt time.Time
	sla     time.Duration // 0 when the contract has none
}

// New builds the state collector; register it on the registry main serves.
func New(cfg Config) *State {
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	product := []string{"domain", "product"}
	return &State{cfg: cfg,
		lastPublish: prometheus.NewDesc("meshflow_product_last_publish_timestamp_seconds",
			"When the product's latest version was published (Unix seconds), from the catalog.", product, nil),
		freshness: prometheus.NewDesc("meshflow_product_freshness_seconds",
			"Seconds since the product's latest version was published, or since a later run found its output unchanged, at scrape time.", product, nil),
		sla: prometheus.NewDesc("meshflow_product_freshness_sla_seconds",
			"The oldest the product may get: its contract's slaProperties frequency plus latency.", product, nil),
		late: prometheus.NewDesc("meshflow_product_late",
			"1 when the product is older than its contract's freshness SLA (frequency plus latency), else 0.", product, nil),
		pendingDesc: prometheus.NewDesc("meshflow_approvals_pending",
			"Runs of the product waiting for approval, from Temporal's visibility.", product, nil),
		oldest: prometheus.NewDesc("meshflow_approval_oldest_pending_seconds",
			"Age of the product's oldest run waiting for approval, counted from the run's start (an upper bound of its wait).", product, nil),
		deprecatedDesc: prometheus.NewDesc("meshflow_deprecated_inputs",
			"1 for each input of a product of the applied mesh that pins a deprecated major version (upstream@major), until the date (on) from which its runs fail.",
			[]string{"product", "input", "upstream", "major", "on"}, nil),
		up: prometheus.NewDesc("meshflow_state_up",
			"1 when the last read of the source (catalog, temporal) for the state metrics worked, else 0.", []string{"source"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (s *State) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.lastPublish, s.freshness, s.sla, s.late, s.pendingDesc, s.oldest, s.up, s.deprecatedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Freshness and lateness are computed
// with the clock of the scrape, from a read at most TTL old.
func (s *State) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if s.readAt.IsZero() || now.Sub(s.readAt) >= s.cfg.TTL {
		s.read(now)
	}
	seen := map[string]bool{}
	for _, p := range s.products {
		seen[p.ref] = true
		d, n, _ := strings.Cut(p.ref, "/")
		age := now.Sub(p.freshAt).Seconds()
		ch <- prometheus.MustNewConstMetric(s.lastPublish, prometheus.GaugeValue, float64(p.publishedAt.UnixMilli())/1000, d, n)
		ch <- prometheus.MustNewConstMetric(s.freshness, prometheus.GaugeValue, age, d, n)
		if p.sla > 0 {
			late := 0.0
			if age > p.sla.Seconds() {
				late = 1
			}
			ch <- prometheus.MustNewConstMetric(s.sla, prometheus.GaugeValue, p.sla.Seconds(), d, n)
			ch <- prometheus.MustNewConstMetric(s.late, prometheus.GaugeValue, late, d, n)
		}
		if s.cfg.Runs != nil && s.runsUp == 1 && len(s.pending[p.ref]) == 0 {
			ch <- prometheus.MustNewConstMetric(s.pendingDesc, prometheus.GaugeValue, 0, d, n)
		}
	}
	for ref, starts := range s.pending {
		d, n, _ := strings.Cut(ref, "/")
		oldest := starts[0]
		for _, t := range starts[1:] {
			if t.Before(oldest) {
				oldest = t
			}
		}
		ch <- prometheus.MustNewConstMetric(s.pendingDesc, prometheus.GaugeValue, float64(len(starts)), d, n)
		ch <- prometheus.MustNewConstMetric(s.oldest, prometheus.GaugeValue, now.Sub(oldest).Seconds(), d, n)
	}
	for _, d := range s.deprecated {
		if !d.dep.Past(now) {
			ch <- prometheus.MustNewConstMetric(s.deprecatedDesc, prometheus.GaugeValue, 1, d.product, d.input, d.dep.Product, strconv.Itoa(d.dep.Major), d.dep.On)
		}
	}
	if s.cfg.Store != nil {
		ch <- prometheus.MustNewConstMetric(s.up, prometheus.GaugeValue, s.catalogUp, "catalog")
	}
	if s.cfg.Runs != nil {
		ch <- prometheus.MustNewConstMetric(s.up, prometheus.GaugeValue, s.runsUp, "temporal")
	}
}

// read refreshes the cache; on an error a source keeps its last good values
// and its up series says 0.
func (s *State) read(now time.Time) {
	s.readAt = now
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if s.cfg.Store != nil {
		products, err := s.readCatalog(ctx)
		var deprecated []deprecatedInput
		if err == nil {
			deprecated, err = s.readDeprecated(ctx)
		}
		if err != nil {
			s.catalogUp = 0
			s.cfg.Logger.Warn("metrics: cannot read the catalog", "error", err)
		} else {
			s.catalogUp, s.products, s.deprecated = 1, products, deprecated
		}
	}
	if s.cfg.Runs != nil {
		pending, err := s.readPending(ctx)
		if err != nil {
			s.runsUp = 0
			s.cfg.Logger.Warn("metrics: cannot list the runs waiting for approval", "error", err)
		} else {
			s.runsUp, s.pending = 1, pending
		}
	}
}

// readDeprecated lists the inputs of the applied mesh's products that pin
// a deprecated major; none before a mesh is applied.
func (s *State) readDeprecated(ctx context.Context) ([]deprecatedInput, error) {
	rev, _, err := meshrev.Load(ctx, s.cfg.Store, refresh.RevisionCurrent)
	if errors.Is(err, meshrev.ErrNoRevision) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []deprecatedInput
	for _, ref := range slices.Sorted(maps.Keys(rev.Products)) {
		for _, in := range rev.Products[ref].Inputs {
			if in.Product == "" || in.Major == 0 {
				continue
			}
			d, err := catalog.ReadDeprecation(ctx, s.cfg.Store, in.Product, in.Major)
			if err != nil {
				return nil, err
			}
			if d != nil {
				out = append(out, deprecatedInput{product: ref, input: in.Name, dep: *d})
			}
		}
	}
	return out, nil
}

func (s *State) readCatalog(ctx context.Context) ([]productState, error) {
	entries, err := catalog.List(ctx, s.cfg.Store)
	if err != nil {
		return nil, err
	}
	out := make([]productState, 0, len(entries))
	for _, e := range entries {
		// A run that found the output unchanged since the latest version
		// counts as a refresh: freshness is from its check.
		p := productState{ref: e.Ref, publishedAt: e.Latest.PublishedAt,
			freshAt: catalog.FreshAt(e.Latest, catalog.LatestCheck(ctx, s.cfg.Store, e.Ref, e.Latest))}
		p.sla = s.contractSLA(ctx, e.Latest)
		out = append(out, p)
	}
	return out, nil
}

// contractSLA reads a published version's freshness SLA; 0 when it has none or
// meshflow cannot read it (logged).
func (s *State) contractSLA(ctx context.Context, m refresh.Manifest) time.Duration {
	c, err := catalog.Contract(ctx, s.cfg.Store, m)
	if err != nil {
		s.cfg.Logger.Warn("metrics: cannot read a published contract", "product", m.Product, "version", m.Version, "error", err)
		return 0
	}
	f := catalog.FreshnessOf(c, m.PublishedAt, s.cfg.Now())
	if f.Err != nil {
		s.cfg.Logger.Warn("metrics: contract has an SLA meshflow cannot read", "product", m.Product, "version", m.Version, "error", f.Err)
	}
	return f.Expected
}

func (s *State) readPending(ctx context.Context) (map[string][]time.Time, error) {
	runs, err := control.AwaitingApproval(ctx, s.cfg.Runs, "", 1000)
	if err != nil {
		return nil, err
	}
	out := map[string][]time.Time{}
	for _, r := range runs {
		if r.Product != "" {
			out[r.Product] = append(out[r.Product], r.Start)
		}
	}
	return out, nil
}
