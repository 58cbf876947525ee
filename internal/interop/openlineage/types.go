package openlineage

import "time"

// Producer is the producer URI of every event and facet meshflow writes.
const Producer = "https://github.com/meshflow/meshflow"

// The schema URLs of the OpenLineage spec and of the facets meshflow writes,
// the versions the schema tests check against (testdata/schema).
const (
	SpecSchemaURL            = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
	schemaFacetURL           = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
	qualityMetricsFacetURL   = "https://openlineage.io/spec/facets/1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet"
	qualityAssertionFacetURL = "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
	columnLineageFacetURL    = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
	documentationFacetURL    = "https://openlineage.io/spec/facets/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet"
	ownershipFacetURL        = "https://openlineage.io/spec/facets/1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet"
	versionFacetURL          = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
	parentFacetURL           = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
	nominalTimeFacetURL      = "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet"
	errorMessageFacetURL     = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
	jobTypeFacetURL          = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
	sqlFacetURL              = "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet"
)

// EventType is the run-state transition an event reports.
type EventType string

// The event types meshflow emits.
const (
	Start    EventType = "START"
	Running  EventType = "RUNNING"
	Complete EventType = "COMPLETE"
	Abort    EventType = "ABORT"
	Fail     EventType = "FAIL"
)

// RunEvent is an OpenLineage 2-0-2 RunEvent.
type RunEvent struct {
	EventType EventType       `json:"eventType"`
	EventTime time.Time       `json:"eventTime"`
	Producer  string          `json:"producer"`
	SchemaURL string          `json:"schemaURL"`
	Run       Run             `json:"run"`
	Job       Job             `json:"job"`
	Inputs    []InputDataset  `json:"inputs,omitempty"`
	Outputs   []OutputDataset `json:"outputs,omitempty"`
}

// Run identifies a run; RunID is a UUID.
type Run struct {
	RunID  string     `json:"runId"`
	Facets *RunFacets `json:"facets,omitempty"`
}

// RunFacets are the run facets meshflow writes.
type RunFacets struct {
	Parent       *ParentRunFacet       `json:"parent,omitempty"`
	NominalTime  *NominalTimeRunFacet  `json:"nominalTime,omitempty"`
	ErrorMessage *ErrorMessageRunFacet `json:"errorMessage,omitempty"`
}

// Job is the job a run belongs to.
type Job struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	Facets    *JobFacets `json:"facets,omitempty"`
}

// JobFacets are the job facets meshflow writes.
type JobFacets struct {
	JobType *JobTypeJobFacet `json:"jobType,omitempty"`
	SQL     *SQLJobFacet     `json:"sql,omitempty"`
}

// Dataset is an input or output dataset.
type Dataset struct {
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Facets    *DatasetFacets `json:"facets,omitempty"`
}

// InputDataset is a dataset a run reads.
type InputDataset struct {
	Dataset
}

// OutputDataset is a dataset a run writes.
type OutputDataset struct {
	Dataset
}

// DatasetFacets are the dataset facets meshflow writes.
type DatasetFacets struct {
	Schema                *SchemaDatasetFacet                `json:"schema,omitempty"`
	Version               *DatasetVersionDatasetFacet        `json:"version,omitempty"`
	DataQualityMetrics    *DataQualityMetricsDatasetFacet    `json:"dataQualityMetrics,omitempty"`
	DataQualityAssertions *DataQualityAssertionsDatasetFacet `json:"dataQualityAssertions,omitempty"`
	ColumnLineage         *ColumnLineageDatasetFacet         `json:"columnLineage,omitempty"`
	Documentation         *DocumentationDatasetFacet         `json:"documentation,omitempty"`
	Ownership             *OwnershipDatasetFacet             `json:"ownership,omitempty"`
}

// BaseFacet holds the fields every facet has.
type BaseFacet struct {
	Producer  string `json:"_producer"`
	SchemaURL string `json:"_schemaURL"`
}

func base(schemaURL string) BaseFacet { return BaseFacet{Producer: Producer, SchemaURL: schemaURL} }

// SchemaDatasetFacet lists a dataset's columns.
type SchemaDatasetFacet struct {
	BaseFacet
	Fields []SchemaField `json:"fields"`
}

// SchemaField is one column.
type SchemaField struct {
	Name            string `json:"name"`
	Type            string `json:"type,omitempty"`
	Description     string `json:"description,omitempty"`
	OrdinalPosition int    `json:"ordinal_position,omitempty"`
}

// DatasetVersionDatasetFacet names a dataset's version.
type DatasetVersionDatasetFacet struct {
	BaseFacet
	DatasetVersion string `json:"datasetVersion"`
}

// DataQualityMetricsDatasetFacet holds a dataset's counts.
type DataQualityMetricsDatasetFacet struct {
	BaseFacet
	RowCount      *int64                   `json:"rowCount,omitempty"`
	Bytes         *int64                   `json:"bytes,omitempty"`
	FileCount     *int64                   `json:"fileCount,omitempty"`
	ColumnMetrics map[string]ColumnMetrics `json:"columnMetrics"`
}

// ColumnMetrics are one column's counts.
type ColumnMetrics struct {
	NullCount     *int64   `json:"nullCount,omitempty"`
	DistinctCount *int64   `json:"distinctCount,omitempty"`
	Min           *float64 `json:"min,omitempty"`
	Max           *float64 `json:"max,omitempty"`
}

// DataQualityAssertionsDatasetFacet lists the outcome of each quality rule.
type DataQualityAssertionsDatasetFacet struct {
	BaseFacet
	Assertions []Assertion `json:"assertions"`
}

// Assertion is one rule's outcome.
type Assertion struct {
	Assertion string `json:"assertion"`
	Success   bool   `json:"success"`
	Column    string `json:"column,omitempty"`
	Severity  string `json:"severity,omitempty"`
	Actual    string `json:"actual,omitempty"`
}

// ColumnLineageDatasetFacet says which input columns each output column comes from.
type ColumnLineageDatasetFacet struct {
	BaseFacet
	Fields map[string]ColumnLineageField `json:"fields"`
}

// ColumnLineageField lists the inputs of one output column.
type ColumnLineageField struct {
	InputFields []InputField `json:"inputFields"`
}

// InputField is one input column and how it becomes the output.
type InputField struct {
	Namespace       string           `json:"namespace"`
	Name            string           `json:"name"`
	Field           string           `json:"field"`
	Transformations []Transformation `json:"transformations,omitempty"`
}

// Transformation is a column lineage transformation: type DIRECT or INDIRECT.
type Transformation struct {
	Type    string `json:"type"`
	Subtype string `json:"subtype,omitempty"`
}

// DocumentationDatasetFacet describes a dataset.
type DocumentationDatasetFacet struct {
	BaseFacet
	Description string `json:"description"`
}

// OwnershipDatasetFacet names a dataset's owners.
type OwnershipDatasetFacet struct {
	BaseFacet
	Owners []Owner `json:"owners"`
}

// Owner is one owner: Name is e.g. "team:sales-china", Type e.g. "team".
type Owner struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

// ParentRunFacet names the run that caused this one.
type ParentRunFacet struct {
	BaseFacet
	Run ParentRun `json:"run"`
	Job ParentJob `json:"job"`
}

// ParentRun is the parent's run.
type ParentRun struct {
	RunID string `json:"runId"`
}

// ParentJob is the parent's job.
type ParentJob struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// NominalTimeRunFacet is when a scheduled run was meant to start.
type NominalTimeRunFacet struct {
	BaseFacet
	NominalStartTime time.Time `json:"nominalStartTime"`
}

// ErrorMessageRunFacet says why a run failed.
type ErrorMessageRunFacet struct {
	BaseFacet
	Message             string `json:"message"`
	ProgrammingLanguage string `json:"programmingLanguage"`
}

// JobTypeJobFacet says what kind of job a refresh is.
type JobTypeJobFacet struct {
	BaseFacet
	ProcessingType string `json:"processingType"`
	Integration    string `json:"integration"`
	JobType        string `json:"jobType,omitempty"`
}

// SQLJobFacet is the job's transform SQL.
type SQLJobFacet struct {
	BaseFacet
	Query   string `json:"query"`
	Dialect string `json:"dialect,omitempty"`
}
