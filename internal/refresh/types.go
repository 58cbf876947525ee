package refresh

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/signing"
)

// Product is a data product as the workflow needs it: everything from its spec and
// contract that a run uses, resolved by whoever starts the run and recorded in the
// run's history, so that a run is reproducible and does not read the mesh folder.
type Product struct {
	Domain      string   `json:"domain"`
	Name        string   `json:"name"`
	Owner       string   `json:"owner"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	TaskQueue   string   `json:"taskQueue"`
	// Access is AccessOpen or AccessRestricted: whether products of other
	// domains need a grant to read this one.
	Access string  `json:"access,omitempty"`
	Inputs []Input `json:"inputs"`
	SQL    string  `json:"sql"`
	// Contract is the ODCS contract as YAML text.
	Contract string `json:"contract"`
	// ContractFile names the file the contract came from, for error messages.
	ContractFile string     `json:"contractFile,omitempty"`
	Governance   Governance `json:"governance"`
	// Consumers are the products that read this one ("<domain>/<name>").
	Consumers []string `json:"consumers,omitempty"`
	// Partitions, when set, makes the product time-partitioned: a refresh
	// builds only new, changed and lookback partitions, in batches.
	Partitions *Partitioning `json:"partitions,omitempty"`
	// PublishUnchanged publishes a new version even when the output and the
	// contract equal the latest version's (spec output.unchanged: publish).
	PublishUnchanged bool `json:"publishUnchanged,omitempty"`
	// Revision is the ID of the mesh revision the product was resolved from
	// (meshrev.Revision.Resolve sets it; a revision does not hold its own
	// ID). Activities read the product again from that revision and refuse
	// any other, so that no activity input decides what a run reads, runs or
	// publishes. Runs resolved before it was recorded name none: their
	// products must be those of the current revision.
	Revision string `json:"revision,omitempty"`
}

// Partitioning is how a product is split into time partitions.
type Partitioning struct {
	// By is hour, day or month.
	By string `json:"by"`
	// Column is the output column that holds each row's partition key.
	Column string `json:"column"`
	// Start is the first partition's key; nothing earlier is built.
	Start string `json:"start"`
	// Lookback is how many partitions before the newest every run rebuilds.
	Lookback int `json:"lookback,omitempty"`
	// MaxParallel is how many batches are in flight at once (0: the default).
	MaxParallel int `json:"maxParallel,omitempty"`
}

// Ref returns "<domain>/<name>".
func (p Product) Ref() string { return p.Domain + "/" + p.Name }

// Input is one input of a product: a URI (file:// with an absolute path, s3://,
// or postgresql:// with a table or query) or another product.
type Input struct {
	Name string `json:"name"`
	URI  string `json:"uri,omitempty"`
	// SpecURI is the URI as the product spec writes it: a file:// URI stays
	// relative to the mesh folder. Policies see it (package policy), so that they
	// see the same inputs wherever the mesh was applied.
	SpecURI string `json:"specUri,omitempty"`
	Format  Format `json:"format,omitempty"`
	Product string `json:"product,omitempty"`
	// Major is the major version of Product that the input pins: it reads the
	// newest published Major.x. Zero follows the latest version.
	Major     int    `json:"major,omitempty"`
	Delimiter string `json:"delimiter,omitempty"`
	Header    *bool  `json:"header,omitempty"`
	// BadRows is BadRowsQuarantine when unreadable lines are set aside rather
	// than failing the run ("" is BadRowsFail).
	BadRows BadRows `json:"badRows,omitempty"`
	// Table or Query is what a postgresql:// input reads ("schema.table", or
	// one SELECT). The URI names the server and database; credentials come
	// from the worker's libpq environment and never travel here.
	Table string `json:"table,omitempty"`
	Query string `json:"query,omitempty"`
	// Access is the access mode of the input product (AccessOpen or
	// AccessRestricted), as the mesh revision defines it.
	Access string `json:"access,omitempty"`
	// Partitioned is set on an input of a partitioned product that is split
	// like the product: a URI with a partition placeholder, or a product
	// partitioned by the same grain. Each partition reads only its own part.
	Partitioned bool `json:"partitioned,omitempty"`
}

// NeedsGrant reports whether a product of domain needs a grant to read the
// input: it is another domain's product that is not open.
func (in Input) NeedsGrant(domain string) bool {
	if in.Product == "" || in.Access == AccessOpen {
		return false
	}
	producer, _, _ := strings.Cut(in.Product, "/")
	return producer != domain
}

// Governance is the approval policy of a product.
type Governance struct {
	Approval ApprovalMode `json:"approval"`
	// Stewards are the people who approve: StewardPrincipals with every team
	// expanded into its members.
	Stewards []string `json:"stewards"`
	// StewardPrincipals are the principals the spec names as stewards (the
	// product's, or else its domain's), people and teams as written.
	StewardPrincipals []string      `json:"stewardPrincipals,omitempty"`
	Quorum            int           `json:"quorum"`
	Timeout           time.Duration `json:"timeout"`
	EscalateTo        []string      `json:"escalateTo,omitempty"`
	// EscalateAfter is when the escalateTo principals are called in (and may
	// decide for the stewards); zero means half the timeout.
	EscalateAfter time.Duration `json:"escalateAfter,omitempty"`
}

// RefreshInput starts a ProductRefresh run. It names the product and the mesh
// revision only: the run resolves the spec, contract, governance, policies and
// consumers from the revision, so nothing a caller writes here changes who must
// approve. Who asked is proven by Request, a statement signed by meshflow serve;
// a scheduled run's submitter is the principal that applied the mesh, and a
// propagated run's is its parent's.
type RefreshInput struct {
	// Ref is the product, "<domain>/<name>".
	Ref string `json:"ref,omitempty"`
	// Revision is the mesh revision to resolve the product from; "" or
	// RevisionCurrent means the revision current when the run starts.
	Revision string `json:"revision,omitempty"`
	// Trigger says how the run started: TriggerRequest (a person, through
	// meshflow serve), TriggerSchedule or TriggerPropagation.
	Trigger string `json:"trigger,omitempty"`
	// Request is serve's signed statement of who asked for the run (trigger
	// TriggerRequest): action refresh, the product, the workflow ID.
	Request *signing.Signed `json:"request,omitempty"`
	// Submitter is the principal who asked for the run; it may not approve it.
	// Runs resolved from a revision take it from Request, the revision or the
	// parent run, never from this field alone.
	Submitter string `json:"submitter"`
	// Reason says why the run started ("manual", "schedule", "after sales-china/regional-sales v1.2.0").
	Reason string `json:"reason,omitempty"`
	// Partitions, for a partitioned product, is a range of partitions to build
	// whatever their state ("2026-09-01..2026-09-07"), besides the new, changed
	// and lookback ones.
	Partitions string `json:"partitions,omitempty"`

	// Product, Downstream and Policies carried the whole product in the input
	// before mesh revisions. Runs started on current code ignore them; they are
	// kept so that runs started before can replay and finish.
	Product    Product            `json:"product"`
	Downstream map[string]Product `json:"downstream,omitempty"`
	Policies   []Policy           `json:"policies,omitempty"`
}

// The triggers of a refresh.
const (
	TriggerRequest     = "request"
	TriggerSchedule    = "schedule"
	TriggerPropagation = "propagation"
)

// RevisionCurrent names the revision the mesh's current pointer names.
const RevisionCurrent = "current"

// ResolveInput asks for a product as a mesh revision defines it.
type ResolveInput struct {
	Ref      string `json:"ref"`
	Revision string `json:"revision"`
}

// Resolved is a product as the mesh revision defines it, with everything a run
// needs from the revision. The run records it in its history.
type Resolved struct {
	// Revision is the revision's ID (the SHA-256 of its content).
	Revision   string             `json:"revision"`
	Product    Product            `json:"product"`
	Downstream map[string]Product `json:"downstream,omitempty"`
	Policies   []Policy           `json:"policies,omitempty"`
	// Keys are the public keys whose signatures the run accepts.
	Keys []signing.PublicKey `json:"keys"`
	// AppliedBy is the principal that applied the revision: the submitter of
	// scheduled runs.
	AppliedBy string `json:"appliedBy"`
}

// Policy is a mesh-wide policy as a run receives it: a CEL rule over the product,
// its contract and its quality report.
type Policy struct {
	ID       string `json:"id"`
	Message  string `json:"message"`
	Severity string `json:"severity,omitempty"`
	Rule     string `json:"rule"`
}

// PolicyResult is one policy's outcome for a run.
type PolicyResult struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Holds    bool   `json:"holds"`
	Error    string `json:"error,omitempty"`
}

// Blocks reports whether the result stops publication.
func (p PolicyResult) Blocks() bool { return !p.Holds && p.Severity != "warning" }

// ContractChange is one difference between the last published contract and the
// candidate's.
type ContractChange struct {
	Severity string `json:"severity"` // breaking, non-breaking or info
	Kind     string `json:"kind"`
	Path     string `json:"path"`
	Message  string `json:"message"`
}

// GovernInput asks to check a candidate against the mesh's policies and to compare
// its contract with the last published one.
type GovernInput struct {
	Product  Product   `json:"product"`
	RunID    string    `json:"runId"`
	Policies []Policy  `json:"policies"`
	Quality  Quality   `json:"quality"`
	Previous *Manifest `json:"previous,omitempty"`
	// Columns are the candidate's columns, as its consumers will read them
	// (ValidateResult.Columns). Runs started before impact analysis send none.
	Columns []Column `json:"columns,omitempty"`
	// Consumers are the products that read this one, as the mesh revision
	// defines them, in the order of Product.Consumers: Govern checks their SQL
	// against the candidate's columns.
	Consumers []Product `json:"consumers,omitempty"`
	// Pins is set by runs whose route knows pinned majors (the workflow's
	// ChangePinnedMajors): consumers pinned to an older major than the
	// candidate's are listed as unaffected, and told rather than asked.
	Pins bool `json:"pins,omitempty"`
}

// GovernResult holds the policies' outcomes and the contract's changes.
type GovernResult struct {
	Policies []PolicyResult   `json:"policies"`
	Changes  []ContractChange `json:"changes"`
	Breaking bool             `json:"breaking"`
	// Contract is the candidate contract, staged for publication.
	Contract        ObjectRef `json:"contract"`
	ContractVersion string    `json:"contractVersion,omitempty"`
	// Impact is what the candidate's schema change does to the consumers; nil
	// when its columns are those of the last published version.
	Impact *Impact `json:"impact,omitempty"`
	// Latest is the latest published version, which the candidate was
	// compared with; runs of ChangeFewerSteps read it here rather than with
	// LatestManifest. Earlier builds of Govern return none.
	Latest *LatestResult `json:"latest,omitempty"`
}

// Impact is what a candidate whose columns differ from the last published
// version's does to the products that read it, checked before sign-off.
type Impact struct {
	// Changed are the published columns the candidate removes, renames or
	// retypes.
	Changed []ChangedColumn `json:"changed"`
	// Consumers are the products that read this one, each checked against the
	// candidate's columns.
	Consumers []ConsumerImpact `json:"consumers,omitempty"`
}

// The changes of a column that Impact lists.
const (
	ColumnRemoved = "removed"
	ColumnRenamed = "renamed"
	ColumnRetyped = "retyped"
)

// ChangedColumn is a published column that the candidate changes.
type ChangedColumn struct {
	Name string `json:"name"`
	// Change is ColumnRemoved, ColumnRenamed or ColumnRetyped.
	Change string `json:"change"`
	// Type is the column's DuckDB type in the last published version.
	Type string `json:"type"`
	// NewType is the candidate's type of a retyped column.
	NewType string `json:"newType,omitempty"`
	// NewName is the candidate's name of a renamed column.
	NewName string `json:"newName,omitempty"`
}

// Describe says what happened to the column, as in "removed here" or
// "retyped here from BIGINT to VARCHAR".
func (c ChangedColumn) Describe() string {
	switch c.Change {
	case ColumnRetyped:
		return "retyped here from " + c.Type + " to " + c.NewType
	case ColumnRenamed:
		return "renamed here to `" + c.NewName + "`"
	}
	return c.Change + " here"
}

// ConsumerImpact is what a candidate's change does to one consuming product.
type ConsumerImpact struct {
	// Product is the consumer, "<domain>/<name>".
	Product string `json:"product"`
	// Checked is false when the consumer could not be checked; Summary says
	// why.
	Checked bool `json:"checked"`
	// Binds is true when the consumer's SQL still binds over the candidate's
	// columns; Error is DuckDB's binder error when it does not.
	Binds bool   `json:"binds"`
	Error string `json:"error,omitempty"`
	// Reads are the changed columns the consumer's SQL reads.
	Reads []string `json:"reads,omitempty"`
	// Outputs are the consumer's output columns that read changed columns.
	Outputs []OutputImpact `json:"outputs,omitempty"`
	// Summary says it in one sentence, as in "film/airport-cities will fail:
	// its SQL reads `city`, removed here".
	Summary string `json:"summary"`
	// Pinned is the older major version the consumer pins: the candidate
	// does not reach it, and it is not checked ("pinned to @1, unaffected").
	Pinned int `json:"pinned,omitempty"`
}

// Breaks reports whether the consumer's next run would fail: its SQL does
// not bind over the candidate. A consumer pinned to an older major never
// breaks.
func (c ConsumerImpact) Breaks() bool { return c.Pinned == 0 && c.Checked && !c.Binds }

// OutputImpact is an output column of a consumer and the changed columns it
// reads.
type OutputImpact struct {
	Column string   `json:"column"`
	Reads  []string `json:"reads"`
}

// BreaksConsumers returns the consumers whose next run would fail, in order;
// a nil Impact breaks none.
func (i *Impact) BreaksConsumers() []string {
	out := []string{}
	if i == nil {
		return out
	}
	for _, c := range i.Consumers {
		if c.Breaks() {
			out = append(out, c.Product)
		}
	}
	return out
}

// ApprovalGroup is one group whose sign-off a run needs: the product's stewards,
// or the representatives of one consuming product.
type ApprovalGroup struct {
	Name      string   `json:"name"`
	Members   []string `json:"members"`
	Quorum    int      `json:"quorum"`
	Approvals int      `json:"approvals"`
	Satisfied bool     `json:"satisfied"`
}

// Refusal is a decision the run did not accept, and why.
type Refusal struct {
	Approval
	Reason string `json:"reason"`
}

// ObjectRef points at an object in the store.
type ObjectRef struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// StagedInput is an input snapshotted into run-scoped staging.
type StagedInput struct {
	Name   string `json:"name"`
	Format Format `json:"format"`
	Source string `json:"source"`
	// SourceVersion is the version read when the input is a product.
	SourceVersion string      `json:"sourceVersion,omitempty"`
	Objects       []ObjectRef `json:"objects"`
	// Deprecated is set when the input pins a major version of a product
	// that is deprecated on a date still to come.
	Deprecated *Deprecation `json:"deprecated,omitempty"`
}

// DeprecatedInputs returns the staged inputs that read a deprecated major.
func DeprecatedInputs(inputs []StagedInput) []DeprecatedInput {
	var out []DeprecatedInput
	for _, in := range inputs {
		if in.Deprecated != nil {
			out = append(out, DeprecatedInput{Input: in.Name, Deprecation: *in.Deprecated})
		}
	}
	return out
}

// ProductSourcePrefix starts the Source of a staged input that was read from
// another product: "product finance/fx-rates".
const ProductSourcePrefix = "product "

// UpstreamProduct returns the product a staged input was read from, or "" when
// it was read from a URI.
func (s StagedInput) UpstreamProduct() string {
	ref, ok := strings.CutPrefix(s.Source, ProductSourcePrefix)
	if !ok {
		return ""
	}
	return ref
}

// IngestInput asks to snapshot a product's inputs.
type IngestInput struct {
	Product Product `json:"product"`
	RunID   string  `json:"runId"`
}

// IngestResult lists the staged inputs.
type IngestResult struct {
	Inputs []StagedInput `json:"inputs"`
	Bytes  int64         `json:"bytes"`
}

// TransformInput asks to run the product's SQL over the staged inputs.
type TransformInput struct {
	Product Product       `json:"product"`
	RunID   string        `json:"runId"`
	Inputs  []StagedInput `json:"inputs"`
}

// Column is a column of a dataset, with its DuckDB type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// TransformResult describes the candidate dataset.
type TransformResult struct {
	Candidate ObjectRef `json:"candidate"`
	Rows      int64     `json:"rows"`
	Columns   []Column  `json:"columns"`
}

// ValidateInput asks to check the candidate against the contract.
type ValidateInput struct {
	Product   Product   `json:"product"`
	RunID     string    `json:"runId"`
	Candidate ObjectRef `json:"candidate"`
}

// RuleSummary is one rule's outcome.
type RuleSummary struct {
	ID       string  `json:"id"`
	Severity string  `json:"severity"`
	Status   string  `json:"status"` // pass, warn, fail, error or skipped
	Failing  int64   `json:"failing"`
	Fraction float64 `json:"fraction"`
	Message  string  `json:"message,omitempty"`
}

// AnomalyRulePrefix starts the ID of every anomaly warning among a quality
// summary's rules (package rules names them so).
const AnomalyRulePrefix = "anomaly_"

// IsAnomaly reports whether the rule is a built-in anomaly warning.
func (r RuleSummary) IsAnomaly() bool {
	return strings.HasPrefix(r.ID, AnomalyRulePrefix) && r.Severity == "warning" && r.Failing == 0
}

// Quality summarises a validation: rows in = rows out + rows quarantined.
type Quality struct {
	RowsIn      int64         `json:"rowsIn"`
	RowsOut     int64         `json:"rowsOut"`
	Quarantined int64         `json:"quarantined"`
	Rules       []RuleSummary `json:"rules"`
	Blocked     bool          `json:"blocked"`
	Warnings    int           `json:"warnings"`
	// Rejected counts the input lines that could not be read as rows and were
	// set aside (inputs with badRows: quarantine); Rejects holds them, each with
	// its input, file, line, error and text. They are not in RowsIn: the lines
	// read are the inputs' rows plus Rejected.
	Rejected int64      `json:"rejected,omitempty"`
	Rejects  *ObjectRef `json:"rejects,omitempty"`
	// Columns are each published column's statistics, over the rows out.
	Columns []ColumnStats `json:"columns,omitempty"`
	// Fingerprint identifies the rows out whatever their order and however
	// the Parquet file encodes them (engine.Fingerprint): DuckDB need not
	// write the same rows to the same bytes twice. Versions published before
	// it have none.
	Fingerprint string `json:"fingerprint,omitempty"`
	// History is how many published versions the dataset rules and the anomaly
	// checks compared the candidate with.
	History int64 `json:"history,omitempty"`
	// Anomalies are the built-in anomaly warnings; each is also among Rules
	// (status warn, severity warning) and counted in Warnings.
	Anomalies []Anomaly `json:"anomalies,omitempty"`
}

// Anomaly is a built-in warning: the row count, or a column's null fraction,
// far from its history by a robust z-score (see package rules).
type Anomaly struct {
	// Rule is its ID among Quality.Rules: anomaly_row_count or
	// anomaly_null_fraction_<column>.
	Rule string `json:"rule"`
	// Metric is row_count or null_fraction.
	Metric string  `json:"metric"`
	Column string  `json:"column,omitempty"`
	Value  float64 `json:"value"`
	Median float64 `json:"median"`
	MAD    float64 `json:"mad"`
	// Score is the modified z-score 0.6745*(Value-Median)/MAD.
	Score    float64 `json:"score"`
	Versions int64   `json:"versions"`
	Message  string  `json:"message"`
}

// ColumnStats are one column's statistics over a version's rows.
type ColumnStats struct {
	Name  string `json:"name"`
	Nulls int64  `json:"nulls"`
	// Distinct is approximate (HyperLogLog), within a few percent.
	Distinct int64 `json:"distinct"`
	// Min and Max are set for numeric columns.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// ValidateResult holds the checked output and the evidence.
type ValidateResult struct {
	Quality Quality   `json:"quality"`
	Data    ObjectRef `json:"data"`
	// Report is the full quality report (JSON), with failing-row samples.
	Report     ObjectRef  `json:"report"`
	Quarantine *ObjectRef `json:"quarantine,omitempty"`
	Columns    []Column   `json:"columns"`
	// ContractColumns are the contract's columns with their logical types, the
	// schema compared against the last published version.
	ContractColumns []Column `json:"contractColumns"`
}

// LatestInput asks for the product's latest published manifest.
type LatestInput struct {
	Ref string `json:"ref"`
}

// LatestResult is the latest manifest, or Found false.
type LatestResult struct {
	Found    bool     `json:"found"`
	Manifest Manifest `json:"manifest"`
}

// Approval is one recorded decision.
type Approval struct {
	Principal    string    `json:"principal"`
	Decision     Verdict   `json:"decision"`
	Comment      string    `json:"comment,omitempty"`
	ManifestHash string    `json:"manifestHash"`
	At           time.Time `json:"at"`
	// Proof is serve's signature of the decision; DecisionStatement rebuilds
	// what it covers. Decisions of runs started before signed decisions have none.
	Proof *signing.Proof `json:"proof,omitempty"`
}

// DecisionStatement is the statement a signed decision on the run workflowID of
// product covers.
func DecisionStatement(workflowID, product, principal string, approve bool, comment, manifestHash string) signing.Statement {
	return signing.Statement{Action: signing.ActionDecide, Principal: principal, Subject: workflowID, Product: product,
		ManifestHash: manifestHash, Approve: approve, Comment: comment}
}

// RequestStatement is the statement a signed request to refresh product from
// revision in the run workflowID covers; the reason is its comment.
func RequestStatement(workflowID, product, principal, reason, revision string) signing.Statement {
	return signing.Statement{Action: signing.ActionRefresh, Principal: principal, Subject: workflowID, Product: product, Comment: reason, Revision: revision}
}

// Manifest describes one published version of a product. It is written next to the
// data, and the product's latest pointer names it.
type Manifest struct {
	Product string `json:"product"`
	Version string `json:"version"`
	// Previous is the version the latest pointer named when this one was published
	// ("" for the first): a manifest whose Previous is v proves that v was
	// committed.
	Previous   string `json:"previous,omitempty"`
	RunID      string `json:"runId"`
	WorkflowID string `json:"workflowId"`
	// Submitter and Reason say who asked for the run and why ("manual",
	// "schedule", "after finance/fx-rates 1.3.0"). Runs started before meshflow
	// recorded them publish without.
	Submitter string `json:"submitter,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// MeshRevision is the mesh revision the run resolved its spec, contract and
	// governance from, and whose keys verify its approvals' proofs.
	MeshRevision string        `json:"meshRevision,omitempty"`
	PublishedAt  time.Time     `json:"publishedAt"`
	Inputs       []StagedInput `json:"inputs"`
	Columns      []Column      `json:"columns"`
	// ContractColumns are the contract's columns (logical types), for change checks.
	ContractColumns []Column   `json:"contractColumns"`
	ContractVersion string     `json:"contractVersion,omitempty"`
	Quality         Quality    `json:"quality"`
	Approvals       []Approval `json:"approvals"`
	Data            ObjectRef  `json:"data"`
	Report          ObjectRef  `json:"report"`
	Quarantine      *ObjectRef `json:"quarantine,omitempty"`
	// Breaking is true when the contract changed in a way that breaks consumers.
	Breaking bool `json:"breaking"`
	// Contract is the published contract (ODCS YAML) of this version.
	Contract *ObjectRef       `json:"contract,omitempty"`
	Changes  []ContractChange `json:"changes,omitempty"`
	Policies []PolicyResult   `json:"policies,omitempty"`
	// Impact is what this version's schema change did to the consumers, as
	// checked before sign-off. It is omitted when empty, so that manifests of
	// runs started before impact analysis hash as they did.
	Impact *Impact `json:"impact,omitempty"`
	// Partitions summarises a partitioned version and names its partition
	// index; such a version has no single Data object.
	Partitions *PartitionSummary `json:"partitions,omitempty"`
}

// PartitionSummary is what a manifest says of a partitioned version's
// partitions.
type PartitionSummary struct {
	By     string `json:"by"`
	Column string `json:"column"`
	// Total is the number of partitions of the version: Built by its run plus
	// CarriedOver, by reference, from earlier versions.
	Total       int    `json:"total"`
	Built       int    `json:"built"`
	CarriedOver int    `json:"carriedOver"`
	First       string `json:"first,omitempty"`
	Last        string `json:"last,omitempty"`
	// Index is the version's partition index (PartitionIndex, JSON): every
	// partition with its objects, checksums and row counts.
	Index ObjectRef `json:"index"`
}

// Words says what a run did with the partitions: "3 built, 177 carried over".
func (s PartitionSummary) Words() string {
	return fmt.Sprintf("%d built, %d carried over", s.Built, s.CarriedOver)
}

// PartitionIndex lists every partition of one version of a partitioned product.
type PartitionIndex struct {
	Product    string           `json:"product"`
	By         string           `json:"by"`
	Column     string           `json:"column"`
	Partitions []PartitionEntry `json:"partitions"`
}

// PartitionEntry is one partition of a version.
type PartitionEntry struct {
	Key  string    `json:"key"`
	Data ObjectRef `json:"data"`
	// Quarantine holds the partition's rows that failed an error row rule;
	// Outside its rows whose key was null or outside the partition, with the
	// reason. Rejects holds input lines that were not rows.
	Quarantine *ObjectRef `json:"quarantine,omitempty"`
	Outside    *ObjectRef `json:"outside,omitempty"`
	Rejects    *ObjectRef `json:"rejects,omitempty"`
	// RowsIn = RowsOut + Quarantined; Quarantined counts the Outside rows too.
	RowsIn      int64 `json:"rowsIn"`
	RowsOut     int64 `json:"rowsOut"`
	Quarantined int64 `json:"quarantined"`
	OutsideRows int64 `json:"outsideRows,omitempty"`
	Rejected    int64 `json:"rejected,omitempty"`
	// Rules are the row rules' counts over the partition's rows in place.
	Rules []RuleCount `json:"rules,omitempty"`
	// Inputs is the fingerprint of each input the partition was built from,
	// and Recipe the fingerprint of the SQL, contract and partitioning.
	Inputs map[string]string `json:"inputs"`
	Recipe string            `json:"recipe"`
	// RunID is the run that built the partition.
	RunID string `json:"runId"`
}

// RuleCount is one row rule's counts over a partition.
type RuleCount struct {
	ID      string `json:"id"`
	Checked int64  `json:"checked"`
	Failing int64  `json:"failing"`
}

// PlanInput asks to plan a refresh of a partitioned product.
type PlanInput struct {
	Product Product `json:"product"`
	RunID   string  `json:"runId"`
	// Requested is a range of partitions to build whatever their state.
	Requested string `json:"requested,omitempty"`
}

// PlanResult says how many partitions the run builds, in how many batches; the
// plan itself (keys, objects, fingerprints) is staged as Plan, so that a plan of
// thousands of partitions never travels in a payload.
type PlanResult struct {
	Plan        ObjectRef `json:"plan"`
	Build       int       `json:"build"`
	CarriedOver int       `json:"carriedOver"`
	BatchSize   int       `json:"batchSize"`
	Batches     int       `json:"batches"`
	// Reasons counts the built partitions by why they are built.
	Reasons map[string]int `json:"reasons,omitempty"`
	// Inputs are the unpartitioned inputs, snapshotted once for every batch.
	Inputs []StagedInput `json:"inputs"`
	Bytes  int64         `json:"bytes"`
}

// BatchInput asks to build batch number Batch of a plan.
type BatchInput struct {
	Product Product   `json:"product"`
	RunID   string    `json:"runId"`
	Plan    ObjectRef `json:"plan"`
	Batch   int       `json:"batch"`
}

// BatchResult is what one batch built; its partitions' entries are staged as
// Result.
type BatchResult struct {
	Result      ObjectRef `json:"result"`
	Partitions  int       `json:"partitions"`
	RowsIn      int64     `json:"rowsIn"`
	RowsOut     int64     `json:"rowsOut"`
	Quarantined int64     `json:"quarantined"`
	// Blocked lists the partitions whose checks block publication, with why.
	Blocked []string `json:"blocked,omitempty"`
}

// CombineInput asks to check a partitioned version as a whole: the plan's
// carried-over partitions and the batches' built ones.
type CombineInput struct {
	Product Product     `json:"product"`
	RunID   string      `json:"runId"`
	Plan    ObjectRef   `json:"plan"`
	Batches []ObjectRef `json:"batches"`
}

// CombineResult is the checked partitioned version: the quality of the whole, its
// report, and the staged partition index.
type CombineResult struct {
	Validate   ValidateResult   `json:"validate"`
	Partitions PartitionSummary `json:"partitions"`
}

// PartitionProgress is how far a partitioned run is.
type PartitionProgress struct {
	// Done of Build partitions are built; CarriedOver are kept by reference.
	Done        int `json:"done"`
	Build       int `json:"build"`
	CarriedOver int `json:"carriedOver"`
	Batches     int `json:"batches"`
	BatchesDone int `json:"batchesDone"`
}

// PublishInput asks to publish the staged, checked output.
type PublishInput struct {
	Manifest Manifest `json:"manifest"`
	// Previous is the version the run compared against ("" for the first).
	Previous string `json:"previous"`
	// Bump is major for breaking changes and minor otherwise.
	Bump Bump `json:"bump"`
}

// PublishResult says what was published.
type PublishResult struct {
	Version     string `json:"version"`
	ManifestKey string `json:"manifestKey"`
	// Reused is true when a retry found this run's own earlier publication.
	Reused bool `json:"reused"`
}

// InputsPublishedInput asks whether every product input of a product has a
// published version.
type InputsPublishedInput struct {
	Product Product `json:"product"`
}

// InputsPublishedResult lists the inputs that are not published yet, and the
// latest version of those that are.
type InputsPublishedResult struct {
	Missing  []string          `json:"missing"`
	Versions map[string]string `json:"versions"`
}

// CleanupInput asks to delete a run's staging objects. The run calls it once, at
// its end, so it also carries how the run ended, for metrics.
type CleanupInput struct {
	Ref   string `json:"ref"`
	RunID string `json:"runId"`
	// Stage is the run's final stage ("" from runs started before it existed).
	Stage Stage `json:"stage,omitempty"`
	// Approval says how the wait for approval ended, when the run waited.
	Approval *ApprovalOutcome `json:"approval,omitempty"`
	// Reason says why the run ended so: its error, who rejected it and why,
	// what expired (for the notifications).
	Reason string `json:"reason,omitempty"`
}

// EscalationInput is the input of the NotifyEscalation activity: the approval
// of a run was escalated to EscalateTo, who may now decide with Approvers
// until Deadline.
type EscalationInput struct {
	Ref        string    `json:"ref"`
	RunID      string    `json:"runId"`
	EscalateTo []string  `json:"escalateTo"`
	Approvers  []string  `json:"approvers"`
	Deadline   time.Time `json:"deadline"`
	Detail     string    `json:"detail,omitempty"`
}

// ApprovalOutcome is how a run's wait for approval ended.
type ApprovalOutcome struct {
	Decision WaitOutcome `json:"decision"`
	// Since is when the wait started, At when it ended.
	Since time.Time `json:"since"`
	At    time.Time `json:"at"`
}

// Decision is the argument of the decide update.
type Decision struct {
	Principal string `json:"principal"`
	// Approve is true to approve, false to reject.
	Approve bool   `json:"approve"`
	Comment string `json:"comment,omitempty"`
	// ManifestHash, when set, must equal the hash under review.
	ManifestHash string `json:"manifestHash,omitempty"`
	// Proof is meshflow serve's signature of the decision
	// (DecisionStatement): runs resolved from a mesh revision refuse decisions
	// without a valid one.
	Proof *signing.Proof `json:"proof,omitempty"`
}

// Status answers the status query.
type Status struct {
	Product   string    `json:"product"`
	Stage     Stage     `json:"stage"`
	Detail    string    `json:"detail,omitempty"`
	Submitter string    `json:"submitter"`
	StartedAt time.Time `json:"startedAt"`
	// Revision is the mesh revision the run resolved its product from.
	Revision     string        `json:"revision,omitempty"`
	Inputs       int           `json:"inputs"`
	RowsIn       int64         `json:"rowsIn"`
	RowsOut      int64         `json:"rowsOut"`
	Quarantined  int64         `json:"quarantined"`
	Warnings     int           `json:"warnings"`
	Version      string        `json:"version,omitempty"`
	Breaking     bool          `json:"breaking"`
	ManifestHash string        `json:"manifestHash,omitempty"`
	Approvers    []string      `json:"approvers,omitempty"`
	Approvals    []Approval    `json:"approvals,omitempty"`
	Deadline     time.Time     `json:"deadline,omitzero"`
	Error        string        `json:"error,omitempty"`
	Rules        []RuleSummary `json:"rules,omitempty"`
	// Groups are the approval groups of a run that needs sign-off.
	Groups    []ApprovalGroup  `json:"groups,omitempty"`
	Changes   []ContractChange `json:"changes,omitempty"`
	Policies  []PolicyResult   `json:"policies,omitempty"`
	Escalated bool             `json:"escalated,omitempty"`
	Refused   []Refusal        `json:"refused,omitempty"`
	// Partitions is a partitioned run's progress.
	Partitions *PartitionProgress `json:"partitions,omitempty"`
	// Impact is what the candidate's schema change does to the consumers.
	Impact *Impact `json:"impact,omitempty"`
	// Deprecated are the run's inputs pinned to a major version that is
	// deprecated on a date still to come.
	Deprecated []DeprecatedInput `json:"deprecated,omitempty"`
	// Unchanged is the version a run that ended unchanged found its output
	// identical to, and CheckedAt when it checked.
	Unchanged string    `json:"unchanged,omitempty"`
	CheckedAt time.Time `json:"checkedAt,omitzero"`
	// SupersededBy is the newer run (its workflow ID) that superseded this
	// one.
	SupersededBy string `json:"supersededBy,omitempty"`
	// SupersedeRefused lists the supersede claims the run did not believe,
	// each with why.
	SupersedeRefused []string `json:"supersedeRefused,omitempty"`
}

// Result is what a finished run returns.
type Result struct {
	Stage   Stage  `json:"stage"`
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Unchanged reports whether a run's checked output is the latest version's
// output again: the same contract (the checksum of its published ODCS YAML),
// the same rows out (the data object's SHA-256, or else the rows' fingerprint,
// since DuckDB may write the same rows to other bytes), and as many rows
// quarantined and rejected. Partitioned versions, and versions published
// before contracts or fingerprints were recorded, are never unchanged.
func Unchanged(latest Manifest, contract ObjectRef, data ObjectRef, q Quality) bool {
	switch {
	case latest.Partitions != nil || latest.Contract == nil || latest.Contract.SHA256 == "" || latest.Contract.SHA256 != contract.SHA256:
		return false
	case latest.Quality.RowsOut != q.RowsOut || latest.Quality.Quarantined != q.Quarantined || latest.Quality.Rejected != q.Rejected:
		return false
	case data.SHA256 != "" && latest.Data.SHA256 == data.SHA256:
		return true
	}
	return q.Fingerprint != "" && latest.Quality.Fingerprint == q.Fingerprint
}

// CheckInput asks to record that a run's output was identical to Version,
// the product's latest version, at CheckedAt.
type CheckInput struct {
	Ref          string    `json:"ref"`
	Version      string    `json:"version"`
	RunID        string    `json:"runId"`
	WorkflowID   string    `json:"workflowId"`
	MeshRevision string    `json:"meshRevision,omitempty"`
	CheckedAt    time.Time `json:"checkedAt"`
}

// Supersede is the argument of SignalSupersede: the newer run that reached
// approval.
type Supersede struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// SupersedeOlderInput asks to signal the runs of product Ref that wait for
// approval and started before StartedAt, the start of run Self.
type SupersedeOlderInput struct {
	Ref       string    `json:"ref"`
	Self      Supersede `json:"self"`
	StartedAt time.Time `json:"startedAt"`
}

// SupersedeOlderResult names the runs that were asked to end.
type SupersedeOlderResult struct {
	Signalled []string `json:"signalled,omitempty"`
}

// VerifySupersedeInput asks whether Claim is a newer run of product Ref
// than the run Self, started at StartedAt on TaskQueue, that reached
// approval.
type VerifySupersedeInput struct {
	Ref       string    `json:"ref"`
	Self      Supersede `json:"self"`
	StartedAt time.Time `json:"startedAt"`
	TaskQueue string    `json:"taskQueue"`
	Claim     Supersede `json:"claim"`
}

// VerifySupersedeResult says whether the claim holds, and why not.
type VerifySupersedeResult struct {
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
}

// ErrRunNotFound says that Temporal has no such run; Runs implementations
// wrap it.
var ErrRunNotFound = errors.New("no such run")

// RunInfo is what Temporal records of a run: what verifying a supersede
// claim reads.
type RunInfo struct {
	WorkflowID   string    `json:"workflowId"`
	RunID        string    `json:"runId"`
	WorkflowType string    `json:"workflowType"`
	TaskQueue    string    `json:"taskQueue"`
	Domain       string    `json:"domain"`
	Product      string    `json:"product"`
	Stage        Stage     `json:"stage"`
	Running      bool      `json:"running"`
	StartedAt    time.Time `json:"startedAt"`
}

// AccessGrantedInput asks whether the owner team of a product holds a grant for
// each restricted product of another domain that it reads.
type AccessGrantedInput struct {
	Product  Product `json:"product"`
	Revision string  `json:"revision"`
}

// MissingGrant is a product input the consumer's owner team holds no grant for.
type MissingGrant struct {
	Product string `json:"product"`
	// TaskQueue is the producer domain's queue, where its access requests run.
	TaskQueue string `json:"taskQueue"`
}

// AccessGrantedResult lists the inputs that need a grant first.
type AccessGrantedResult struct {
	Missing []MissingGrant `json:"missing,omitempty"`
}

// AccessDecided is the signal an access request filed by a refresh sends back
// when it is granted or ends without a grant.
type AccessDecided struct {
	Product string `json:"product"`
	Granted bool   `json:"granted"`
	Detail  string `json:"detail,omitempty"`
}
