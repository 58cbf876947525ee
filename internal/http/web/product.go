package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// maxResults bounds the rows of one catalog page.
const maxResults = 200

type catalogData struct {
	Query   Query
	Items   []Item
	Total   int
	Shown   int
	All     int
	Index   *Index
	Took    time.Duration
	Unknown string // an unknown glossary term in the filter
	TermDef string
}

func (s *server) catalogPage(w http.ResponseWriter, r *http.Request) {
	v, err := query(r, "q", "domain", "tag", "owner", "term", "class")
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "Malformed search", err.Error())
		return
	}
	q := Query{Q: v["q"], Domain: v["domain"], Tag: v["tag"], Owner: v["owner"], Term: v["term"], Class: v["class"]}
	if s.deps.Store == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "No catalog", "This server has no object store configured.")
		return
	}
	ix, err := s.index.get(r.Context())
	if err != nil {
		s.failErr(w, r, http.StatusBadGateway, "The catalog could not be read", err)
		return
	}
	start := time.Now()
	items, total := ix.Search(q, canonicalTerm(s.deps.Mesh), maxResults)
	d := catalogData{Query: q, Items: items, Total: total, Shown: len(items), All: len(ix.Items), Index: ix, Took: time.Since(start)}
	if q.Term != "" && s.deps.Mesh != nil {
		if t := s.deps.Mesh.Term(q.Term); t != nil {
			d.TermDef = t.Term + ": " + t.Definition
		} else {
			d.Unknown = q.Term
		}
	}
	s.render(w, r, http.StatusOK, "catalog", page{Title: "Catalog", Nav: "catalog", Data: d})
}

type productData struct {
	Ref, Domain, Name string
	Description       string
	Purpose, Usage    string
	Limitations       string
	Owner             string
	OwnerMembers      []string
	Stewards          []string
	Tags              []string
	Latest            refresh.Manifest
	Columns           []columnRow
	SLA               []slaRow
	Fresh             freshness
	Versions          []versionRow
	Chart             chart
	Lineage           lineage
	Read              readInfo
	Runs              []runRow
	RunsNote          string
	LatestRunURL      string
	ContractVersion   string
	// Deprecations are the product's deprecated majors.
	Deprecations []deprecationRow
	// Pins are the product's inputs that pin a major of another product.
	Pins []pinRow
}

// deprecationRow is a deprecated major of the product.
type deprecationRow struct {
	refresh.Deprecation
	// Newest is the newest version of the major; Past is set once its date
	// has come.
	Newest string
	Past   bool
}

// pinRow is an input that pins a major, with its deprecation when it has one.
type pinRow struct {
	Input, Pin, Ref string
	Major           int
	Deprecation     *refresh.Deprecation
	Past            bool
}

type columnRow struct {
	Object, Name, LogicalType, PhysicalType, Description string
	Required, PrimaryKey, Unique                         bool
	Classification                                       string
	Term, TermDef                                        string
	// TermKnown is false when the mesh's glossary does not hold the term.
	TermKnown bool
	Rules     int
}

type slaRow struct {
	Property, Value, Unit, Element, Description string
}

type freshness struct {
	Age      string
	Expected string
	// State is "fresh", "late" or "" (no SLA to compare with).
	State string
	// Note says why the SLA could not be compared with.
	Note string
	// Checked is when a run last found the output unchanged since the latest
	// version ("" when none did since it was published): "checked 06:00,
	// unchanged since 1.4.0".
	Checked string
}

type versionRow struct {
	Version     string
	PublishedAt time.Time
	Quality     refresh.Quality
	Failing     int64
	// Failed are the rules that did not pass (skipped ones too), Anomalies the
	// messages of the built-in anomaly warnings.
	Failed    []refresh.RuleSummary
	Anomalies []string
	Approvals []refresh.Approval
	Breaking  bool
	Changes   int
	// Broke are the consumers this version's schema change broke, each with
	// the impact analysis's summary.
	Broke  []refresh.ConsumerImpact
	RunURL string
	Latest bool
}

type readInfo struct {
	URI, Format, DuckDB, Access string
	Contract                    string
	// Partitions describes a partitioned version's partitions; URI is then its
	// partition index.
	Partitions string
	// Hidden is true when the viewer is not signed in: the store's locations
	// are not shown.
	Hidden bool
}

// maxVersions bounds the versions read for one product page.
const maxVersions = 30

func (s *server) productPage(w http.ResponseWriter, r *http.Request) {
	ref, err := parseRef(r.PathValue("domain") + "/" + r.PathValue("name"))
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "No such product", err.Error())
		return
	}
	if s.deps.Store == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "No catalog", "This server has no object store configured.")
		return
	}
	ctx := r.Context()
	_, found, err := catalog.ReadLatest(ctx, s.deps.Store, ref)
	if err != nil {
		s.failErr(w, r, http.StatusBadGateway, "The catalog could not be read", err)
		return
	}
	if !found {
		msg := fmt.Sprintf("%s has not been published.", ref)
		if s.deps.Mesh != nil && s.deps.Mesh.Product(ref) != nil {
			msg += " It is part of the mesh: its first refresh may still be running."
		}
		s.fail(w, r, http.StatusNotFound, "No such product", msg)
		return
	}
	e, err := catalog.Show(ctx, s.deps.Store, ref)
	if err != nil {
		s.failErr(w, r, http.StatusBadGateway, "The catalog could not be read", err)
		return
	}
	who, _ := s.principal(r)
	d := s.product(ctx, e, who != "")
	s.render(w, r, http.StatusOK, "product", page{Title: ref, Nav: "catalog", Data: d})
}

// deprecations gathers the product's deprecated majors and its inputs'
// pins, with their deprecations: both show as warnings on its page.
func (s *server) deprecations(ctx context.Context, d *productData, e catalog.Entry, sp *spec.Product) {
	now := time.Now()
	deps, err := catalog.Deprecations(ctx, s.deps.Store, e.Ref)
	if err != nil {
		s.log.Warn("web: read the deprecations", "product", e.Ref, "error", err)
	}
	newest := catalog.NewestOfMajors(e.Versions)
	for _, dep := range deps {
		d.Deprecations = append(d.Deprecations, deprecationRow{Deprecation: dep, Newest: newest[dep.Major], Past: dep.Past(now)})
	}
	if sp == nil {
		return
	}
	for _, in := range sp.Inputs {
		if in.Product == "" || in.Major == 0 {
			continue
		}
		row := pinRow{Input: in.Name, Pin: fmt.Sprintf("%s@%d", in.Product, in.Major), Ref: in.Product, Major: in.Major}
		dep, err := catalog.ReadDeprecation(ctx, s.deps.Store, in.Product, in.Major)
		if err != nil {
			s.log.Warn("web: read a deprecation", "product", in.Product, "major", in.Major, "error", err)
		}
		if dep != nil {
			row.Deprecation, row.Past = dep, dep.Past(now)
		}
		d.Pins = append(d.Pins, row)
	}
}

// product gathers a product's page. Where the data is stored (the store's
// URIs: absolute paths of the worker's folder for a local store), where external
// inputs are read from and the product's runs show only to a signed-in viewer.
func (s *server) product(ctx context.Context, e catalog.Entry, signedIn bool) productData {
	m := e.Latest
	domain, name, _ := strings.Cut(e.Ref, "/")
	d := productData{Ref: e.Ref, Domain: domain, Name: name, Latest: m, ContractVersion: m.ContractVersion}
	set := s.deps.Mesh
	var sp *spec.Product
	if set != nil {
		sp = set.Product(e.Ref)
	}
	c, err := catalog.Contract(ctx, s.deps.Store, m)
	if err != nil {
		s.log.Warn("web: read the published contract", "product", e.Ref, "version", m.Version, "error", err)
	}
	if c != nil {
		d.Purpose, d.Usage, d.Limitations = c.Description.Purpose, c.Description.Usage, c.Description.Limitations
		d.Tags = slices.Clone(c.Tags)
		if d.ContractVersion == "" {
			d.ContractVersion = c.Version
		}
		for _, o := range c.Schema {
			o.WalkProperties(func(p *contract.Property) {
				row := columnRow{Object: o.Name, Name: p.Name, LogicalType: p.LogicalType, PhysicalType: p.PhysicalType,
					Description: p.Description, Required: p.Required, PrimaryKey: p.PrimaryKey, Unique: p.Unique,
					Classification: p.Classification, Term: p.GlossaryTerm, Rules: len(p.Quality)}
				if row.Term != "" && set != nil {
					if t := set.Term(row.Term); t != nil {
						row.TermDef, row.TermKnown = t.Definition, true
					}
				}
				d.Columns = append(d.Columns, row)
			})
		}
		for _, p := range c.SLAProperties {
			d.SLA = append(d.SLA, slaRow{Property: p.Property, Value: slaValue(p.Value), Unit: p.Unit, Element: p.Element, Description: p.Description})
		}
	}
	if len(d.Columns) == 0 {
		for _, col := range m.Columns {
			d.Columns = append(d.Columns, columnRow{Name: col.Name, PhysicalType: col.Type})
		}
	}
	if c != nil {
		// Physical types as written to Parquet, next to the contract's logical ones.
		phys := map[string]string{}
		for _, col := range m.Columns {
			phys[col.Name] = col.Type
		}
		for i := range d.Columns {
			if d.Columns[i].PhysicalType == "" {
				d.Columns[i].PhysicalType = phys[d.Columns[i].Name]
			}
		}
	}
	check := catalog.LatestCheck(ctx, s.deps.Store, e.Ref, m)
	d.Fresh = freshOf(catalog.FreshAt(m, check), c)
	if check != nil && catalog.FreshAt(m, check).Equal(check.CheckedAt) {
		d.Fresh.Checked = fmt.Sprintf("checked %s, unchanged since %s", check.CheckedAt.Local().Format("2006-01-02 15:04"), m.Version)
	}
	s.deprecations(ctx, &d, e, sp)

	var inputs []lineageInput
	var consumers []string
	if sp != nil {
		d.Description, d.Owner = sp.Metadata.Description, sp.Metadata.Owner
		for _, t := range sp.Metadata.Tags {
			if !slices.Contains(d.Tags, t) {
				d.Tags = append(d.Tags, t)
			}
		}
		if o := set.Principal(d.Owner); o != nil && len(o.Members) > 0 {
			d.OwnerMembers = set.People([]string{d.Owner})
		}
		d.Stewards = set.People(set.Stewards(sp))
		versions := map[string]string{}
		for _, in := range m.Inputs {
			versions[in.Name] = in.SourceVersion
		}
		for _, in := range sp.Inputs {
			inputs = append(inputs, lineageInput{Name: in.Name, Ref: in.Product, URI: in.URI, Format: string(in.DataFormat()), Version: versions[in.Name]})
		}
		for _, cp := range set.Consumers(e.Ref) {
			consumers = append(consumers, cp.Ref())
		}
	} else {
		// Without the mesh, lineage comes from what the latest version read.
		for _, in := range m.Inputs {
			li := lineageInput{Name: in.Name, Format: string(in.Format), Version: in.SourceVersion}
			if in.SourceVersion != "" {
				li.Ref = in.Source
			} else {
				li.URI = in.Source
			}
			inputs = append(inputs, li)
		}
	}
	if d.Description == "" {
		d.Description = d.Purpose
	}
	if !signedIn {
		for i := range inputs {
			if localURI(inputs[i].URI) {
				inputs[i].URI = ""
			}
		}
	}
	d.Lineage = layoutLineage(s.colors, e.Ref, inputs, consumers)

	// Versions, newest first in the table, oldest first in the chart.
	vs := e.Versions
	if len(vs) > maxVersions {
		vs = vs[len(vs)-maxVersions:]
	}
	var points []chartPoint
	for _, v := range vs {
		vm := m
		if v != m.Version {
			var err error
			if vm, err = catalog.ReadManifest(ctx, s.deps.Store, e.Ref, v); err != nil {
				if !errors.Is(err, storage.ErrNotFound) {
					s.log.Warn("web: read manifest", "product", e.Ref, "version", v, "error", err)
				}
				continue
			}
		}
		row := versionRow{Version: vm.Version, PublishedAt: vm.PublishedAt, Quality: vm.Quality, Approvals: vm.Approvals,
			Breaking: vm.Breaking, Changes: len(vm.Changes), RunURL: s.runURL(vm.WorkflowID, vm.RunID), Latest: vm.Version == m.Version}
		if vm.Impact != nil {
			for _, c := range vm.Impact.Consumers {
				if c.Breaks() {
					row.Broke = append(row.Broke, c)
				}
			}
		}
		for _, rs := range vm.Quality.Rules {
			switch {
			case rs.IsAnomaly():
				row.Anomalies = append(row.Anomalies, rs.Message)
			case rs.Status != "pass":
				row.Failed = append(row.Failed, rs)
			}
			if rs.Severity == "warning" {
				row.Failing = max(row.Failing, rs.Failing)
			}
		}
		d.Versions = append(d.Versions, row)
		points = append(points, chartPoint{Version: vm.Version, RowsOut: vm.Quality.RowsOut, Quarantined: vm.Quality.Quarantined, Failing: row.Failing})
	}
	slices.Reverse(d.Versions)
	d.Chart = layoutChart(points)
	d.LatestRunURL = s.runURL(m.WorkflowID, m.RunID)

	d.Read = readInfo{Format: string(refresh.FormatParquet), Access: fmt.Sprintf("Reading needs a grant from the owner or a steward: meshflow access request %s --as <you> --purpose \"…\".", e.Ref)}
	if !signedIn {
		d.Read.Hidden = true
		d.RunsNote = "Sign in to see where the data is stored and the runs of this product."
		return d
	}
	objs, err := catalog.DataObjects(ctx, s.deps.Store, m)
	if err != nil {
		s.log.Warn("web: read the data objects", "product", e.Ref, "error", err)
	}
	if m.Partitions != nil {
		d.Read.URI = s.deps.Store.URI(m.Partitions.Index.Key)
		d.Read.Partitions = fmt.Sprintf("%d partitions by %s, %s to %s: %s in this version's run.", m.Partitions.Total, m.Partitions.By, m.Partitions.First, m.Partitions.Last, m.Partitions.Words())
	} else {
		d.Read.URI = s.deps.Store.URI(m.Data.Key)
	}
	d.Read.DuckDB = catalog.ReadSQL(s.deps.Store, objs)
	d.Read.Access += fmt.Sprintf(" The path above is version %s and never changes; the latest version is always named by %s.", m.Version, s.deps.Store.URI(layout.LatestKey(e.Ref)))
	if m.Contract != nil {
		d.Read.Contract = s.deps.Store.URI(m.Contract.Key)
	}

	if s.deps.Control == nil {
		d.RunsNote = "This server is not connected to Temporal."
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		runs, err := s.deps.Control.Runs(rctx, e.Ref, "", 10)
		if err != nil {
			s.log.Warn("web: list runs", "product", e.Ref, "error", err)
			d.RunsNote = "Temporal could not be asked for runs: " + err.Error()
		}
		for _, run := range runs {
			d.Runs = append(d.Runs, s.runRow(run))
		}
	}
	return d
}

// localURI reports whether an input's URI names a file of a worker's machine
// (file:, or a bare path), which anonymous visitors are not shown.
func localURI(uri string) bool {
	if uri == "" {
		return false
	}
	u, err := url.Parse(uri)
	return err != nil || u.Scheme == "" || strings.EqualFold(u.Scheme, "file") || len(u.Scheme) == 1 // C:\…
}

func slaValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// freshOf compares the age of the latest version (counted from its
// publication or its last unchanged check, catalog.FreshAt) with the
// contract's freshness SLA, as package catalog reads it.
func freshOf(published time.Time, c *contract.Contract) freshness {
	f := freshness{Age: ago(published)}
	cf := catalog.FreshnessOf(c, published, time.Now())
	switch {
	case cf.Err != nil:
		f.Note = "the contract's SLA cannot be read: " + cf.Err.Error()
	case cf.Expected <= 0:
	case cf.Late:
		f.Expected, f.State = roughDuration(cf.Expected), "late"
	default:
		f.Expected, f.State = roughDuration(cf.Expected), "fresh"
	}
	return f
}
