package openlineage

import (
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/refresh"
)

// The seq numbers of a run's events in the outbox: they fix the order the
// events are sent in, and make a retried activity write the same key.
const (
	SeqStart = 0
	// SeqRunning plus a stage index is a RUNNING event at that stage.
	SeqRunning = 10
	SeqEnd     = 99
)

// DefaultNamespace is the job namespace of a mesh without a name.
const DefaultNamespace = "meshflow"

// Naming names jobs and datasets of one mesh.
type Naming struct {
	// Mesh is the mesh's name: the namespace of every job, and
	// meshflow://<Mesh> is the namespace of every product dataset.
	Mesh string
}

func (n Naming) mesh() string {
	if n.Mesh == "" {
		return DefaultNamespace
	}
	return n.Mesh
}

// Job returns the job of a product's refreshes.
func (n Naming) Job(ref string) Job { return Job{Namespace: n.mesh(), Name: ref} }

// ProductNamespace is the namespace of the mesh's product datasets.
func (n Naming) ProductNamespace() string { return "meshflow://" + n.mesh() }

// Product returns the dataset of a product, at version when it is not empty.
func (n Naming) Product(ref, version string) Dataset {
	d := Dataset{Namespace: n.ProductNamespace(), Name: ref}
	if version != "" {
		d.Facets = &DatasetFacets{Version: &DatasetVersionDatasetFacet{BaseFacet: base(versionFacetURL), DatasetVersion: version}}
	}
	return d
}

// Source returns the dataset of an external input URI, by the OpenLineage
// naming spec: s3://bucket with the key as name, "file" with the path as name,
// postgres://host:port with database.table as name. Credentials in the URI are
// never copied.
func Source(uri, table, inputName string) Dataset {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return Dataset{Namespace: "file", Name: uri}
	}
	switch u.Scheme {
	case "file":
		return Dataset{Namespace: "file", Name: u.Path}
	case "s3":
		return Dataset{Namespace: "s3://" + u.Host, Name: strings.TrimPrefix(u.Path, "/")}
	case "postgres", "postgresql":
		host := u.Hostname()
		port := u.Port()
		if port == "" {
			port = "5432"
		}
		db := strings.TrimPrefix(u.Path, "/")
		name := table
		if name == "" {
			name = "query." + inputName
		}
		return Dataset{Namespace: "postgres://" + host + ":" + port, Name: db + "." + name}
	default:
		return Dataset{Namespace: u.Scheme + "://" + u.Host, Name: strings.TrimPrefix(u.Path, "/")}
	}
}

// RunID returns the OpenLineage run ID of a Temporal run: the run ID itself
// when it is a UUID (as Temporal's are), else a name-based UUID of it.
func RunID(temporalRunID string) string {
	if id, err := uuid.Parse(temporalRunID); err == nil {
		return id.String()
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("meshflow:run:"+temporalRunID)).String()
}

// EventID is a stable identity of an event, for logs and tests: the run and seq.
func EventID(runID string, seq int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", runID, seq))
	return fmt.Sprintf("%x", sum[:8])
}

// RunInfo is what the activities know of a run.
type RunInfo struct {
	// RunID and WorkflowID are the Temporal run's.
	RunID, WorkflowID string
	// Parent is the run whose publication started this one (propagated runs).
	Parent *ParentRunFacet
	// Nominal is when a scheduled run was meant to start (zero otherwise).
	Nominal time.Time
}

// NominalTime reads the nominal time of a scheduled run from its workflow ID:
// Temporal names a schedule's runs "<schedule's workflow ID>-<RFC 3339 time>",
// and meshflow's schedules' workflow IDs start with refresh/<ref>/scheduled.
func NominalTime(workflowID string) (time.Time, bool) {
	if !strings.Contains(workflowID, "/scheduled") {
		return time.Time{}, false
	}
	i := strings.LastIndex(workflowID, "-")
	for i > 0 {
		if t, err := time.Parse(time.RFC3339, workflowID[i+1:]); err == nil {
			return t, true
		}
		i = strings.LastIndex(workflowID[:i], "-")
	}
	return time.Time{}, false
}

// IsPropagated says whether a workflow ID is that of a run started because its
// inputs published (refresh/<ref>/inputs-<hash>).
func IsPropagated(workflowID string) bool { return strings.Contains(workflowID, "/inputs-") }

// Parent returns the parent facet naming another product's run.
func (n Naming) Parent(ref, temporalRunID string) *ParentRunFacet {
	return &ParentRunFacet{BaseFacet: base(parentFacetURL), Run: ParentRun{RunID: RunID(temporalRunID)}, Job: ParentJob{Namespace: n.mesh(), Name: ref}}
}

func (n Naming) event(t EventType, ref string, run RunInfo, at time.Time) RunEvent {
	ev := RunEvent{EventType: t, EventTime: at.UTC(), Producer: Producer, SchemaURL: SpecSchemaURL,
		Run: Run{RunID: RunID(run.RunID)}, Job: n.Job(ref)}
	var f RunFacets
	if run.Parent != nil {
		f.Parent = run.Parent
	}
	if !run.Nominal.IsZero() {
		f.NominalTime = &NominalTimeRunFacet{BaseFacet: base(nominalTimeFacetURL), NominalStartTime: run.Nominal.UTC()}
	}
	if f != (RunFacets{}) {
		ev.Run.Facets = &f
	}
	return ev
}

func jobFacets(sql string) *JobFacets {
	f := &JobFacets{JobType: &JobTypeJobFacet{BaseFacet: base(jobTypeFacetURL), ProcessingType: "BATCH", Integration: "MESHFLOW", JobType: "REFRESH"}}
	if sql != "" {
		f.SQL = &SQLJobFacet{BaseFacet: base(sqlFacetURL), Query: sql, Dialect: "duckdb"}
	}
	return f
}

// Inputs returns the datasets of a product's inputs as its spec names them.
func (n Naming) Inputs(p refresh.Product) []InputDataset {
	var out []InputDataset
	for _, in := range p.Inputs {
		if in.Product != "" {
			out = append(out, InputDataset{n.Product(in.Product, "")})
			continue
		}
		uri := in.URI
		if in.SpecURI != "" {
			uri = in.SpecURI
		}
		out = append(out, InputDataset{Source(uri, in.Table, in.Name)})
	}
	return out
}

// StagedInputs returns the datasets of a run's staged inputs, with the
// versions of the products read.
func (n Naming) StagedInputs(ins []refresh.StagedInput) []InputDataset {
	var out []InputDataset
	for _, in := range ins {
		if ref, ok := strings.CutPrefix(in.Source, refresh.ProductSourcePrefix); ok {
			out = append(out, InputDataset{n.Product(ref, in.SourceVersion)})
			continue
		}
		out = append(out, InputDataset{Source(in.Source, "", in.Name)})
	}
	return out
}

// StartEvent is the START event of a refresh of p.
func (n Naming) StartEvent(p refresh.Product, run RunInfo, at time.Time) RunEvent {
	ev := n.event(Start, p.Ref(), run, at)
	ev.Job.Facets = jobFacets(p.SQL)
	ev.Inputs = n.Inputs(p)
	out := n.Product(p.Ref(), "")
	if p.Description != "" || p.Owner != "" {
		out.Facets = &DatasetFacets{}
		addDocs(out.Facets, p.Description, p.Owner, nil)
	}
	ev.Outputs = []OutputDataset{{out}}
	return ev
}

// RunningEvent is a RUNNING event of a refresh of ref at stage.
func (n Naming) RunningEvent(ref string, run RunInfo, at time.Time) RunEvent {
	return n.event(Running, ref, run, at)
}

// Published is what a COMPLETE event is built from.
type Published struct {
	Manifest refresh.Manifest
	// Contract is the contract published with the version (nil: unknown).
	Contract *contract.Contract
	// Owner and Description are the product's, from its spec (optional).
	Owner, Description, SQL string
}

// CompleteEvent is the COMPLETE event of a run that published pub.Manifest.
func (n Naming) CompleteEvent(ref string, run RunInfo, pub Published, at time.Time) RunEvent {
	m := pub.Manifest
	ev := n.event(Complete, ref, run, at)
	ev.Job.Facets = jobFacets(pub.SQL)
	ev.Inputs = n.StagedInputs(m.Inputs)
	out := n.Product(ref, m.Version)
	if out.Facets == nil {
		out.Facets = &DatasetFacets{}
	}
	f := out.Facets
	if len(m.Columns) > 0 {
		s := &SchemaDatasetFacet{BaseFacet: base(schemaFacetURL)}
		for i, c := range m.Columns {
			s.Fields = append(s.Fields, SchemaField{Name: c.Name, Type: c.Type, OrdinalPosition: i + 1})
		}
		f.Schema = s
	}
	rows, size := m.Quality.RowsOut, m.Data.Size
	f.DataQualityMetrics = &DataQualityMetricsDatasetFacet{BaseFacet: base(qualityMetricsFacetURL),
		RowCount: &rows, Bytes: &size, ColumnMetrics: map[string]ColumnMetrics{}}
	if m.Partitions != nil {
		// A partitioned version's bytes are its partitions', listed in its
		// index rather than in the manifest: left out rather than wrong.
		f.DataQualityMetrics.Bytes = nil
	}
	for _, c := range m.Quality.Columns {
		nulls, distinct := c.Nulls, c.Distinct
		f.DataQualityMetrics.ColumnMetrics[c.Name] = ColumnMetrics{NullCount: &nulls, DistinctCount: &distinct, Min: c.Min, Max: c.Max}
	}
	if len(m.Quality.Rules) > 0 {
		a := &DataQualityAssertionsDatasetFacet{BaseFacet: base(qualityAssertionFacetURL)}
		for _, r := range m.Quality.Rules {
			a.Assertions = append(a.Assertions, Assertion{Assertion: r.ID, Success: r.Status == "pass",
				Severity: r.Severity, Actual: fmt.Sprintf("%s, %d failing", r.Status, r.Failing)})
		}
		f.DataQualityAssertions = a
	}
	if cl := ColumnLineage(pub.SQL, m.Columns, ev.Inputs, m.Inputs); cl != nil {
		f.ColumnLineage = cl
	}
	desc := pub.Description
	owner := pub.Owner
	if c := pub.Contract; c != nil {
		if desc == "" {
			desc = c.Description.Purpose
		}
		if c.Team != nil && c.Team.Name != "" && owner == "" {
			owner = c.Team.Name
		}
	}
	addDocs(f, desc, owner, pub.Contract)
	if m.Submitter != "" {
		f.Ownership.Owners = append(f.Ownership.Owners, Owner{Name: "user:" + m.Submitter, Type: "submitter"})
	}
	ev.Outputs = []OutputDataset{{out}}
	return ev
}

// addDocs adds the documentation and ownership facets.
func addDocs(f *DatasetFacets, desc, owner string, c *contract.Contract) {
	if desc != "" {
		f.Documentation = &DocumentationDatasetFacet{BaseFacet: base(documentationFacetURL), Description: desc}
	}
	f.Ownership = &OwnershipDatasetFacet{BaseFacet: base(ownershipFacetURL), Owners: []Owner{}}
	if owner != "" {
		f.Ownership.Owners = append(f.Ownership.Owners, Owner{Name: "team:" + owner, Type: "team"})
	}
	if c != nil && c.Team != nil {
		for _, mem := range c.Team.Members {
			if mem.Username != "" {
				f.Ownership.Owners = append(f.Ownership.Owners, Owner{Name: "user:" + mem.Username, Type: strings.ToLower(mem.Role)})
			}
		}
	}
}

// EndEvent is the FAIL or ABORT event of a run that did not publish; message,
// when set, is the FAIL event's errorMessage.
func (n Naming) EndEvent(t EventType, ref string, run RunInfo, message string, at time.Time) RunEvent {
	ev := n.event(t, ref, run, at)
	ev.Outputs = []OutputDataset{{n.Product(ref, "")}}
	if message != "" {
		if ev.Run.Facets == nil {
			ev.Run.Facets = &RunFacets{}
		}
		ev.Run.Facets.ErrorMessage = &ErrorMessageRunFacet{BaseFacet: base(errorMessageFacetURL), Message: message, ProgrammingLanguage: "Go"}
	}
	return ev
}

// Terminal returns the event type of a run that ended at stage: COMPLETE when
// it published or found its output unchanged, FAIL when it failed, ABORT when
// it was rejected, expired, superseded, or stopped at any other stage
// (cancelled or terminated).
func Terminal(stage refresh.Stage) EventType {
	switch stage {
	case refresh.StagePublished, refresh.StageUnchanged:
		return Complete
	case refresh.StageFailed:
		return Fail
	default:
		return Abort
	}
}
