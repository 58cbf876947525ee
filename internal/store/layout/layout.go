// Package layout owns the shape of meshflow's published store: the keys of a
// product's latest pointer, its versions and their objects, and of a run's
// staging; how versions are ordered and which comes next; and the rules of the
// claims by which a run reserves a version before committing it.
//
// The store looks like this:
//
//	<domain>/<product>/v<version>/manifest.json                   a version's manifest (its claim, then its record)
//	<domain>/<product>/v<version>/data.parquet                    the checked rows
//	<domain>/<product>/v<version>/quarantine.parquet              the rows that failed row rules, when any did
//	<domain>/<product>/v<version>/rejects.parquet                 input lines that were not rows, when inputs quarantine them
//	<domain>/<product>/v<version>/quality.json                    the quality report
//	<domain>/<product>/v<version>/contract.odcs.yaml              the contract the version was checked against
//	<domain>/<product>/v<version>/partitions.json                 a partitioned version's partition index
//	<domain>/<product>/v<version>/retired.json                    gc retired the version: its data is gone
//	<domain>/<product>/partitions/<by>=<key>/<run>/<name>.parquet a partition's objects, written by the run that built it
//	<domain>/<product>/latest.json                                the commit point: names the newest version
//	<domain>/<product>/majors/<major>.json                        names the newest version of a major (a Latest)
//	<domain>/<product>/deprecations/<major>.json                  a major's deprecation: its date and note
//	<domain>/<product>/checked.json                               the last run that found its output identical to latest (a Check)
//	_staging/<domain>/<product>/<run>/inputs/<input>/<n>.<ext>    snapshots of a run's inputs
//	_staging/<domain>/<product>/<run>/candidate.parquet           the transform's output
//	_staging/<domain>/<product>/<run>/{data,quarantine}.parquet   the checked output, split
//	_staging/<domain>/<product>/<run>/quality.json                the quality report
//	_staging/<domain>/<product>/<run>/contract.odcs.yaml          the contract, staged for publication
//	_staging/<domain>/<product>/<run>/plan.json                   a partitioned run's plan
//	_staging/<domain>/<product>/<run>/batches/<n>.json            what batch n of the plan built
//	_staging/<domain>/<product>/<run>/partitions.json             the partition index, staged for publication
//	_lineage/outbox/<run>/<seq>.json                              an OpenLineage event waiting to be sent
//	_lineage/sent/<run>/<seq>                                     a sent event's marker, until its run's last event is sent
//	_lineage/rejected/<run>/<seq>.json                            an event the receiver refused as malformed
//	_lineage/lease.json                                           which sender may send, until when
//	_notify/{outbox,sent,rejected}/…, _notify/lease.json          the same for notifications (type Outbox)
//	_notify/sent/<run>/<seq>.state.json                           a notification's delivery, per channel
//	_notify/dead/<run>/<seq>/<channel>.json                       a notification a channel never took
//
// A partition's objects are written once, by the run that built it, outside any
// version's folder: later versions that carry the partition over name the same
// objects in their partition index, so nothing is copied. They become visible
// only when a version whose index names them is committed; objects no retained
// version names are what `meshflow catalog gc` removes.
//
// A major's pointer is written by the publication that moved latest to a
// version of that major, after latest, on every attempt (a retried
// publication writes it again); the publication that starts a new major also
// writes the previous major's, naming the version it was published on top
// of. Pointers only move forward (a slow attempt never moves one back), so
// that a pinned consumer finds the newest <major>.x without walking back
// from latest. A pointer is a shortcut, not a commit point: once a newer
// major is published no version of an older one is published again
// (versions only grow from latest), so a major's pointer never moves after
// that; readers trust one only when the version it names is of its major,
// and otherwise, or without one (versions published before pointers
// existed), walk the committed chain from latest back to the major.
//
// A major's deprecation record is written by catalog.Deprecate (through
// meshflow serve, for the product's owner and stewards) and read by the runs
// of consumers that pin the major, the catalog pages, the metrics and gc,
// which keeps the newest version of every pinned major until its date.
//
// The check record is written by the run that ended unchanged (package
// publish, RecordCheck): its output, under the same contract, was identical
// to the latest version, so it published nothing. It names that version and
// when it was checked; freshness (catalog.FreshAt) counts from the later of
// the version's publication and its last check. It is no commit point: a
// record naming an older version than latest is stale and ignored.
//
// Readers only follow the latest pointer to a manifest and from it along each
// manifest's previous version, so nothing under _staging and no version that
// the pointer never named is visible to them.
//
// Package layout imports no storage code, so that workflows may use its types and
// functions; package catalog reads the store and package publish writes it.
package layout

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
)

// The names of the objects of a version, and of a run's staging.
const (
	Manifest   = "manifest.json"
	Data       = "data.parquet"
	Quarantine = "quarantine.parquet"
	Report     = "quality.json"
	Contract   = "contract.odcs.yaml"
	// Candidate is the transform's output before the checks split it.
	Candidate = "candidate.parquet"
	// Rejects are the input lines that could not be read as rows.
	Rejects = "rejects.parquet"
	// PartitionIndex lists a partitioned version's partitions.
	PartitionIndex = "partitions.json"
	// Checks and Governance are what a run's checks and governance found,
	// staged for Publish, which believes them rather than its input.
	Checks     = "checks.json"
	Governance = "governance.json"
	// Outside holds a partition's rows whose key is null or in another partition.
	Outside = "outside.parquet"
	// Plan is a partitioned run's plan.
	Plan = "plan.json"
	// Retired marks a version gc retired: its data is removed, its manifest,
	// contract and report are kept.
	Retired = "retired.json"
)

// Kept returns the objects of a manifest that stay when gc retires its version:
// the record of what was published, checked and approved.
func Kept(m refresh.Manifest) map[string]refresh.ObjectRef {
	objs := map[string]refresh.ObjectRef{Report: m.Report}
	if m.Contract != nil {
		objs[Contract] = *m.Contract
	}
	if m.Partitions != nil {
		objs[PartitionIndex] = m.Partitions.Index
	}
	return objs
}

// PartitionsPrefix returns the prefix of every partition object of a product,
// with a trailing slash.
func PartitionsPrefix(ref string) string { return ref + "/partitions/" }

// PartitionObjectKey returns the key of the object name of the partition folder
// ("day=2026-09-01") that run runID built.
func PartitionObjectKey(ref, folder, runID, name string) string {
	return path.Join(ref, "partitions", folder, runID, name)
}

// RunOfPartitionKey returns the run that wrote a partition object; ok is false
// when key is not one of ref's partition objects.
func RunOfPartitionKey(ref, key string) (runID string, ok bool) {
	rest, ok := strings.CutPrefix(key, PartitionsPrefix(ref))
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", false
	}
	return parts[1], true
}

// BatchResultKey returns the staged key of what batch n of a run built.
func BatchResultKey(ref, runID string, n int) string {
	return path.Join(StagingPrefix(ref, runID), "batches", fmt.Sprintf("%05d.json", n))
}

// StagingRoot is the first segment of every staging key.
const StagingRoot = "_staging"

// An Outbox is the key space of one outbox of events that activities leave
// for a sender (package outbox): OpenLineage events under _lineage,
// notifications under _notify. Under its root:
//
//	outbox/<run>/<seq>.json    an event waiting to be sent
//	sent/<run>/<seq>           a sent event's marker, until its run's last event is sent
//	rejected/<run>/<seq>.json  an event its receiver refused
//	lease.json                 which sender may send, until when
type Outbox struct {
	// Root is the first segment of every key.
	Root string
}

// The outboxes.
var (
	LineageOutbox = Outbox{Root: LineageRoot}
	NotifyOutbox  = Outbox{Root: NotifyRoot}
)

// Prefix is the prefix of every event waiting to be sent.
func (o Outbox) Prefix() string { return o.Root + "/outbox/" }

// Key returns the key of a run's event number seq. Keys sort by run, then by
// seq, which is the order the run's events are sent in.
func (o Outbox) Key(runID string, seq int) string {
	return fmt.Sprintf("%s%s/%03d.json", o.Prefix(), runID, seq)
}

// Parse reads the run and seq of an outbox key; ok is false when key is not one.
func (o Outbox) Parse(key string) (runID string, seq int, ok bool) {
	rest, ok := strings.CutPrefix(key, o.Prefix())
	if !ok {
		return "", 0, false
	}
	runID, name, ok := strings.Cut(rest, "/")
	num, ok2 := strings.CutSuffix(name, ".json")
	if !ok || !ok2 || runID == "" || strings.Contains(num, "/") {
		return "", 0, false
	}
	seq, err := strconv.Atoi(num)
	if err != nil || seq < 0 {
		return "", 0, false
	}
	return runID, seq, true
}

// SentPrefix returns the prefix of a run's sent markers.
func (o Outbox) SentPrefix(runID string) string { return o.Root + "/sent/" + runID + "/" }

// SentKey returns the key of the marker that a run's event seq was sent.
func (o Outbox) SentKey(runID string, seq int) string {
	return fmt.Sprintf("%s%03d", o.SentPrefix(runID), seq)
}

// RejectedKey returns where an event the receiver refused is kept.
func (o Outbox) RejectedKey(runID string, seq int) string {
	return fmt.Sprintf("%s/rejected/%s/%03d.json", o.Root, runID, seq)
}

// LeaseKey is the key of the lease that lets one sender send at a time.
func (o Outbox) LeaseKey() string { return o.Root + "/lease.json" }

// LineageRoot is the first segment of every key of the OpenLineage outbox.
const LineageRoot = "_lineage"

// LineageOutboxPrefix is the prefix of every event waiting to be sent.
const LineageOutboxPrefix = LineageRoot + "/outbox/"

// LineageOutboxKey returns the key of a run's event number seq in the outbox.
func LineageOutboxKey(runID string, seq int) string { return LineageOutbox.Key(runID, seq) }

// LineageOfOutboxKey reads the run and seq of a lineage outbox key.
func LineageOfOutboxKey(key string) (runID string, seq int, ok bool) { return LineageOutbox.Parse(key) }

// NotifyRoot is the first segment of every key of the notifications' outbox.
const NotifyRoot = "_notify"

// NotifyStateKey returns the key of the delivery state of a run's
// notification seq: per channel, the attempts made and whether it was
// delivered. It lies beside the run's sent markers, so that it goes with them
// once the run's last event is sent.
func NotifyStateKey(runID string, seq int) string {
	return fmt.Sprintf("%s%03d.state.json", NotifyOutbox.SentPrefix(runID), seq)
}

// NotifyDeadPrefix is the prefix of the dead letters: notifications that a
// channel never took.
const NotifyDeadPrefix = NotifyRoot + "/dead/"

// NotifyDeadKey returns the key of the dead letter of a run's notification
// seq to a channel.
func NotifyDeadKey(runID string, seq int, channel string) string {
	return fmt.Sprintf("%s%s/%03d/%s.json", NotifyDeadPrefix, runID, seq, channel)
}

// latestName is the name of a product's latest pointer.
const latestName = "latest.json"

// Latest is the content of a product's latest pointer.
type Latest struct {
	Version     string    `json:"version"`
	ManifestKey string    `json:"manifestKey"`
	RunID       string    `json:"runId"`
	PublishedAt time.Time `json:"publishedAt"`
}

// LatestKey returns the key of a product's latest pointer.
func LatestKey(ref string) string { return ref + "/" + latestName }

// ProductOfLatestKey returns the product whose latest pointer key is; ok is
// false when key is not one ("<domain>/<product>/latest.json").
func ProductOfLatestKey(key string) (ref string, ok bool) {
	ref, ok = strings.CutSuffix(key, "/"+latestName)
	if !ok || strings.HasPrefix(ref, "_") || strings.Count(ref, "/") != 1 {
		return "", false
	}
	return ref, true
}

// checkedName is the name of a product's check record.
const checkedName = "checked.json"

// CheckedKey returns the key of a product's check record.
func CheckedKey(ref string) string { return ref + "/" + checkedName }

// Check is the content of a product's check record: the last run whose output
// was identical to Version, and when it checked.
type Check struct {
	Version      string    `json:"version"`
	CheckedAt    time.Time `json:"checkedAt"`
	RunID        string    `json:"runId"`
	WorkflowID   string    `json:"workflowId"`
	MeshRevision string    `json:"meshRevision,omitempty"`
}

// MajorKey returns the key of the pointer to the newest version of a major.
func MajorKey(ref string, major int) string { return fmt.Sprintf("%s/majors/%d.json", ref, major) }

// DeprecationKey returns the key of a major's deprecation record.
func DeprecationKey(ref string, major int) string {
	return fmt.Sprintf("%s/deprecations/%d.json", ref, major)
}

// IsMajorOrDeprecationKey reports whether key is a major's pointer or
// deprecation record of product ref.
func IsMajorOrDeprecationKey(ref, key string) bool {
	for _, dir := range []string{"/majors/", "/deprecations/"} {
		rest, ok := strings.CutPrefix(key, ref+dir)
		num, json := strings.CutSuffix(rest, ".json")
		if n, err := strconv.Atoi(num); ok && json && err == nil && n >= 1 {
			return true
		}
	}
	return false
}

// DeprecationsPrefix returns the prefix of a product's deprecation records.
func DeprecationsPrefix(ref string) string { return ref + "/deprecations/" }

// ValidVersion reports whether version is a MAJOR.MINOR.PATCH version of
// decimal numbers, as NextVersion makes them: nothing else can name a
// version's folder, so that a pointer cannot lead out of it with "/" or "..".
func ValidVersion(version string) bool {
	parts := strings.Split(version, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 9 || strings.Trim(p, "0123456789") != "" || (len(p) > 1 && p[0] == '0') {
			return false
		}
	}
	return true
}

// Major returns the major number of a MAJOR.MINOR.PATCH version, 0 when it
// has none.
func Major(version string) int {
	head, _, _ := strings.Cut(version, ".")
	n, err := strconv.Atoi(head)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// VersionPrefix returns the folder of a published version, without a trailing
// slash.
func VersionPrefix(ref, version string) string { return ref + "/v" + version }

// VersionsPrefix returns the prefix under which all of a product's versions lie.
func VersionsPrefix(ref string) string { return ref + "/v" }

// ManifestKey returns the key of a version's manifest.
func ManifestKey(ref, version string) string {
	return path.Join(VersionPrefix(ref, version), Manifest)
}

// StagingPrefix returns the folder of a run's staging, without a trailing slash.
func StagingPrefix(ref, runID string) string { return path.Join(StagingRoot, ref, runID) }

// ProductStagingPrefix returns the prefix of every run's staging of a product,
// with a trailing slash.
func ProductStagingPrefix(ref string) string { return path.Join(StagingRoot, ref) + "/" }

// RunOfStagingKey returns the run whose staging holds key; ok is false when key
// is not in ref's staging.
func RunOfStagingKey(ref, key string) (runID string, ok bool) {
	rest, ok := strings.CutPrefix(key, ProductStagingPrefix(ref))
	runID, _, found := strings.Cut(rest, "/")
	return runID, ok && found && runID != ""
}

// StagedKey returns the key of the object name in a run's staging.
func StagedKey(ref, runID, name string) string { return path.Join(StagingPrefix(ref, runID), name) }

// StagedInputKey returns the key of the n-th object snapshotted for an input.
func StagedInputKey(ref, runID, input string, n int, ext string) string {
	return path.Join(StagingPrefix(ref, runID), "inputs", input, fmt.Sprintf("%04d.%s", n, ext))
}

// Objects returns a manifest's objects by their name in the version's folder.
func Objects(m refresh.Manifest) map[string]refresh.ObjectRef {
	objs := map[string]refresh.ObjectRef{Report: m.Report}
	if m.Data.Key != "" {
		objs[Data] = m.Data
	}
	if m.Partitions != nil {
		objs[PartitionIndex] = m.Partitions.Index
	}
	if m.Contract != nil {
		objs[Contract] = *m.Contract
	}
	if m.Quarantine != nil {
		objs[Quarantine] = *m.Quarantine
	}
	if m.Quality.Rejects != nil {
		objs[Rejects] = *m.Quality.Rejects
	}
	return objs
}

// InVersion returns the manifest as version of its product: its version set and
// its objects' keys inside the version's folder.
func InVersion(m refresh.Manifest, version string) refresh.Manifest {
	vp := VersionPrefix(m.Product, version)
	m.Version = version
	m.Report.Key = path.Join(vp, Report)
	if m.Data.Key != "" {
		m.Data.Key = path.Join(vp, Data)
	}
	if m.Partitions != nil {
		ps := *m.Partitions
		ps.Index.Key = path.Join(vp, PartitionIndex)
		m.Partitions = &ps
	}
	if m.Contract != nil {
		c := *m.Contract
		c.Key = path.Join(vp, Contract)
		m.Contract = &c
	}
	if m.Quarantine != nil {
		q := *m.Quarantine
		q.Key = path.Join(vp, Quarantine)
		m.Quarantine = &q
	}
	if m.Quality.Rejects != nil {
		r := *m.Quality.Rejects
		r.Key = path.Join(vp, Rejects)
		m.Quality.Rejects = &r
	}
	return m
}

// CompareVersions orders MAJOR.MINOR.PATCH versions numerically.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x - y
		}
	}
	return len(pa) - len(pb)
}

// NextVersion returns the semantic version after prev: 1.0.0 first, then the
// minor number goes up, or the major number for a breaking change.
func NextVersion(prev string, bump refresh.Bump) (string, error) {
	if prev == "" {
		return "1.0.0", nil
	}
	parts := strings.Split(prev, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("published version %q is not MAJOR.MINOR.PATCH", prev)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("published version %q is not MAJOR.MINOR.PATCH", prev)
	}
	if bump == refresh.BumpMajor {
		return fmt.Sprintf("%d.0.0", major+1), nil
	}
	return fmt.Sprintf("%d.%d.0", major, minor+1), nil
}

// DefaultStaleClaimAfter is how old another run's claim on a version must be
// before a publishing run steps over it to the version after. A claim gets that
// old when its run was terminated or lost in the middle of publishing; younger
// claims belong to racing runs.
const DefaultStaleClaimAfter = time.Hour

// MaxStaleClaims bounds how many stale claims one publication steps over.
const MaxStaleClaims = 10

// ClaimIsStale reports whether a claim made at claimedAt is older than after
// (DefaultStaleClaimAfter when after is not positive) at now.
func ClaimIsStale(claimedAt, now time.Time, after time.Duration) bool {
	if after <= 0 {
		after = DefaultStaleClaimAfter
	}
	return now.Sub(claimedAt) >= after
}
