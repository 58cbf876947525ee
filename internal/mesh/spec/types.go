package spec

import (
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"github.com/meshflow/meshflow/internal/refresh"
	"go.yaml.in/yaml/v3"
)

// APIVersion is the apiVersion every meshflow document carries.
const APIVersion = "meshflow/v1"

// Mesh is the content of mesh.yaml.
type Mesh struct {
	APIVersion string       `yaml:"apiVersion" required:"true"`
	Kind       string       `yaml:"kind" required:"true"`
	Metadata   MeshMetadata `yaml:"metadata" required:"true"`
	Domains    []Domain     `yaml:"domains" required:"true"`
	Principals []Principal  `yaml:"principals"`
	Glossary   []Term       `yaml:"glossary"`
	Policies   []Policy     `yaml:"policies"`
	Storage    Storage      `yaml:"storage"`
	Temporal   Temporal     `yaml:"temporal"`
	// Notifications route the mesh's events to people's channels.
	Notifications []Notification `yaml:"notifications"`

	// Doc is the parsed file, for positions.
	Doc *yamlfile.Doc `yaml:"-"`
}

// MeshMetadata names the mesh.
type MeshMetadata struct {
	Name        string `yaml:"name" required:"true"`
	Description string `yaml:"description"`
}

// Domain is a business domain that owns data products.
type Domain struct {
	Name        string   `yaml:"name" required:"true"`
	Description string   `yaml:"description"`
	Owners      []string `yaml:"owners" required:"true"`
	Stewards    []string `yaml:"stewards"`
	// TaskQueue is the Temporal task queue the domain's workers poll; it defaults to
	// "meshflow-<domain>".
	TaskQueue string `yaml:"taskQueue"`
}

// Queue returns the domain's task queue.
func (d Domain) Queue() string {
	if d.TaskQueue != "" {
		return d.TaskQueue
	}
	return "meshflow-" + d.Name
}

// The roles a principal can hold.
const (
	RoleOwner      = "owner"
	RoleSteward    = "steward"
	RoleConsumer   = "consumer"
	RoleGovernance = "governance"
	RoleEngineer   = "engineer"
)

// Roles lists the known roles.
var Roles = []string{RoleOwner, RoleSteward, RoleConsumer, RoleGovernance, RoleEngineer}

// Principal is a person, team or service that can own, approve or read products.
type Principal struct {
	Name  string   `yaml:"name" required:"true"`
	Kind  string   `yaml:"kind"` // user (default), team or service
	Email string   `yaml:"email"`
	Roles []string `yaml:"roles"`
	// Members lists the principals of a team.
	Members []string `yaml:"members"`
	// TokenHash is the SHA-256 of the principal's API token for `meshflow serve`,
	// written "sha256:<64 hex digits>"; `meshflow token new <principal>` makes a
	// token and prints this line. The token itself is never stored.
	TokenHash string `yaml:"tokenHash"`
}

// TokenHashPrefix starts every Principal.TokenHash.
const TokenHashPrefix = "sha256:"

// ValidTokenHash reports whether h is written "sha256:<64 lower-case hex digits>".
func ValidTokenHash(h string) bool {
	hexPart, ok := strings.CutPrefix(h, TokenHashPrefix)
	if !ok || len(hexPart) != 64 {
		return false
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Term is a business term of the mesh's glossary.
type Term struct {
	Term       string   `yaml:"term" required:"true"`
	Definition string   `yaml:"definition" required:"true"`
	Owner      string   `yaml:"owner"` // the domain that owns the term
	Synonyms   []string `yaml:"synonyms"`
}

// Policy is a mesh-wide rule, written in CEL over a product's metadata, contract and
// quality report.
type Policy struct {
	ID       string `yaml:"id" required:"true"`
	Message  string `yaml:"message" required:"true"`
	Severity string `yaml:"severity"` // error (default) or warning
	Rule     string `yaml:"rule" required:"true"`
}

// Notification routes events of the mesh to one channel: a webhook (generic
// JSON, Slack or Teams) or e-mail to a list of addresses (SMTP from the
// worker's environment). Package notify delivers them.
type Notification struct {
	Name string `yaml:"name" json:"name" required:"true"`
	// Webhook is an https URL (http only to localhost or 127.0.0.1).
	Webhook string `yaml:"webhook" json:"webhook,omitempty"`
	// Email lists the addresses that get the events as e-mail.
	Email []string `yaml:"email" json:"email,omitempty"`
	// Format is the webhook payload: json (default), slack or teams.
	Format string `yaml:"format" json:"format,omitempty"`
	// Events are the event names routed here (NotificationEvents).
	Events []string `yaml:"events" json:"events" required:"true"`
	// Domains, when set, keeps only the events of products of these domains.
	Domains []string `yaml:"domains" json:"domains,omitempty"`
}

// The events a notification may route.
const (
	EventApprovalRequested      = "approval-requested"
	EventApprovalEscalated      = "approval-escalated"
	EventDecided                = "decided"
	EventPublished              = "published"
	EventFailed                 = "failed"
	EventExpired                = "expired"
	EventBreakingChangeProposed = "breaking-change-proposed"
	EventAccessRequested        = "access-requested"
	EventAccessGranted          = "access-granted"
	EventAccessExpiring         = "access-expiring"
	EventProductLate            = "product-late"
	EventDeprecationApproaching = "deprecation-approaching"
)

// NotificationEvents lists the event names, in the order of a run's life.
var NotificationEvents = []string{EventApprovalRequested, EventApprovalEscalated, EventDecided, EventPublished, EventFailed, EventExpired,
	EventBreakingChangeProposed, EventAccessRequested, EventAccessGranted, EventAccessExpiring, EventProductLate, EventDeprecationApproaching}

// The payload formats of a webhook.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
	FormatTeams = "teams"
)

// NotificationFormats lists the webhook payload formats.
var NotificationFormats = []string{FormatJSON, FormatSlack, FormatTeams}

// Storage says where products are staged and published.
type Storage struct {
	// Products is the URI under which products are published, e.g.
	// "s3://mesh-products/" or "file://./.meshflow/products".
	Products string `yaml:"products"`
	// Staging is the URI for run-scoped staging; it defaults to Products + "/_staging".
	Staging  string `yaml:"staging"`
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
}

// Temporal holds the Temporal connection settings of the mesh.
type Temporal struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
}

// Product is a DataProduct spec.
type Product struct {
	APIVersion string          `yaml:"apiVersion" required:"true"`
	Kind       string          `yaml:"kind" required:"true"`
	Metadata   ProductMetadata `yaml:"metadata" required:"true"`
	Inputs     []Input         `yaml:"inputs" required:"true"`
	Transform  Transform       `yaml:"transform" required:"true"`
	// ContractNode is either a file name (a .odcs.yaml next to the spec) or an inline
	// ODCS contract.
	ContractNode *yaml.Node `yaml:"contract" required:"true"`
	Governance   Governance `yaml:"governance"`
	Output       Output     `yaml:"output"`
	Schedule     *Schedule  `yaml:"schedule"`
	// Partitions makes the product time-partitioned.
	Partitions *Partitions `yaml:"partitions"`
	// Access is AccessOpen (any product and person of the mesh may read it) or
	// AccessRestricted (the default: products of other domains read it only
	// while their owner team holds a grant).
	Access string `yaml:"access"`

	// Doc is the parsed spec, for positions.
	Doc *yamlfile.Doc `yaml:"-"`
	// Contract is the loaded output contract, nil when it could not be read.
	Contract *contract.Contract `yaml:"-"`
	// ContractFile is the file the contract came from (the spec itself when inline).
	ContractFile string `yaml:"-"`
}

// The access modes of a product.
const (
	AccessOpen       = "open"
	AccessRestricted = "restricted"
)

// AccessMode returns the product's access mode, AccessRestricted when unset.
func (p *Product) AccessMode() string {
	if p.Access == "" {
		return AccessRestricted
	}
	return p.Access
}

// ProductMetadata names and describes a product.
type ProductMetadata struct {
	Name        string   `yaml:"name" required:"true"`
	Domain      string   `yaml:"domain" required:"true"`
	Owner       string   `yaml:"owner" required:"true"`
	Description string   `yaml:"description"`
	Tags        []string `yaml:"tags"`
}

// Ref returns the product's mesh-wide name, "<domain>/<name>".
func (p *Product) Ref() string { return p.Metadata.Domain + "/" + p.Metadata.Name }

// Input is one dataset a product reads: an object or prefix in storage, a
// PostgreSQL table or query, or another data product (a mesh edge).
type Input struct {
	// Name is the table name the transform SQL uses for this input.
	Name   string         `yaml:"name" required:"true"`
	URI    string         `yaml:"uri"`
	Format refresh.Format `yaml:"format"`
	// Product names another product as "<domain>/<product>"; its latest published
	// version is read. "<domain>/<product>@<major>" pins a major version: the
	// newest published <major>.x is read, even after a newer major is
	// published. Load splits the pin off into Major (and Pin, as written).
	Product string `yaml:"product"`
	// Major is the major version the input pins, 0 when it follows the latest
	// version.
	Major int `yaml:"-"`
	// Pin is the "@" of Product and what follows it, as written; "" without one.
	Pin string `yaml:"-"`
	// CSV options.
	Delimiter string `yaml:"delimiter"`
	Header    *bool  `yaml:"header"`
	// BadRows is fail (the default: a line that is not a row fails the run) or
	// quarantine (it is set aside with its file, line and error, and counted).
	BadRows refresh.BadRows `yaml:"badRows"`
	// PostgreSQL options: a postgresql:// URI reads exactly one of a table
	// ("orders" or "schema.orders") or one SELECT query. Credentials come from
	// the worker's libpq environment (PGUSER, PGPASSWORD, PGPASSFILE,
	// PGSSLMODE), never from the spec.
	Table string `yaml:"table"`
	Query string `yaml:"query"`
}

// Partitions splits a product into time partitions, named as other tools name
// them: a refresh builds only the new, changed and lookback partitions.
type Partitions struct {
	// By is hour, day or month.
	By string `yaml:"by" required:"true"`
	// Column is the output column (DATE or TIMESTAMP) that holds each row's
	// partition key.
	Column string `yaml:"column" required:"true"`
	// Start is the first partition; nothing earlier is built.
	Start string `yaml:"start" required:"true"`
	// Lookback is how many partitions before the newest every run rebuilds, for
	// late data; 0 by default.
	Lookback int `yaml:"lookback"`
	// MaxParallel is how many batches of partitions are in flight at once.
	MaxParallel int `yaml:"maxParallel"`
}

// Transform is the SQL that turns the inputs into the product.
type Transform struct {
	SQL string `yaml:"sql" required:"true"`
}

// Governance says who must sign off a new version and when.
type Governance struct {
	Approval      refresh.ApprovalMode `yaml:"approval"` // never (default), always, on-breaking-change
	Stewards      []string             `yaml:"stewards"`
	Quorum        int                  `yaml:"quorum"`
	Timeout       time.Duration        `yaml:"timeout"`
	EscalateTo    []string             `yaml:"escalateTo"`
	EscalateAfter time.Duration        `yaml:"escalateAfter"`
}

// Output says how and where the product is published.
type Output struct {
	Format   refresh.Format `yaml:"format"` // parquet (default)
	Location string         `yaml:"location"`
	// Unchanged says what a refresh whose output and contract equal the latest
	// version's does: UnchangedSkip (the default) publishes nothing and records
	// the check, UnchangedPublish publishes a new version anyway, for products
	// whose consumers expect a version per refresh.
	Unchanged string `yaml:"unchanged"`
}

// The values of output.unchanged.
const (
	UnchangedSkip    = "skip"
	UnchangedPublish = "publish"
)

// Schedule is a product's refresh schedule, made into a Temporal Schedule by
// `meshflow apply`.
type Schedule struct {
	// Cron has five fields: minute, hour, day of month, month, day of week. Unlike
	// classic cron, Temporal matches a time only when both day fields match.
	Cron string `yaml:"cron" required:"true"`
	// Timezone is an IANA time zone name; the cron is read in UTC when it is empty.
	Timezone string `yaml:"timezone"`
	// Overlap says what happens when a refresh is due while the previous one still
	// runs (for example, waits for approval): one of the Overlap* values, skip when
	// empty.
	Overlap string `yaml:"overlap"`
	// CatchupWindow is how late a refresh may still start after Temporal was
	// unavailable at its time; DefaultCatchupWindow when zero, at least
	// MinCatchupWindow. Older missed refreshes are dropped: run them with
	// `meshflow backfill`.
	CatchupWindow time.Duration `yaml:"catchupWindow"`
	// Jitter delays each refresh by a random time up to this long, so that many
	// products on the same cron do not start at once. Temporal caps it at the time
	// until the next refresh.
	Jitter time.Duration `yaml:"jitter"`
	// Paused creates the schedule paused. `meshflow apply` sets the pause state only
	// when it creates the schedule or when this value changes; a pause or resume by
	// `meshflow schedule pause|resume` lasts until then.
	Paused bool `yaml:"paused"`
}

// The overlap policies of a schedule, named as in Temporal.
const (
	OverlapSkip           = "skip"            // do not start the new refresh (the default)
	OverlapBufferOne      = "buffer-one"      // start it when the running one ends; keep at most one waiting
	OverlapBufferAll      = "buffer-all"      // start every missed one, one after the other
	OverlapCancelOther    = "cancel-other"    // cancel the running refresh, then start
	OverlapTerminateOther = "terminate-other" // terminate the running refresh, then start
	OverlapAllowAll       = "allow-all"       // start it alongside the running one
)

// OverlapPolicies lists the known overlap policies.
var OverlapPolicies = []string{OverlapSkip, OverlapBufferOne, OverlapBufferAll, OverlapCancelOther, OverlapTerminateOther, OverlapAllowAll}

// Schedule defaults and limits.
const (
	// DefaultCatchupWindow is the catch-up window of a schedule that names none: a
	// refresh delayed by a short outage still runs, while a day-old one does not
	// start by surprise (backfill it instead). Temporal's own default is a year.
	DefaultCatchupWindow = time.Hour
	// MinCatchupWindow is the shortest catch-up window Temporal honours.
	MinCatchupWindow = 10 * time.Second
)

// OverlapPolicy returns the schedule's overlap policy, with the default filled in.
func (s Schedule) OverlapPolicy() string {
	if s.Overlap == "" {
		return OverlapSkip
	}
	return s.Overlap
}

// Catchup returns the schedule's catch-up window, with the default filled in.
func (s Schedule) Catchup() time.Duration {
	if s.CatchupWindow == 0 {
		return DefaultCatchupWindow
	}
	return s.CatchupWindow
}
