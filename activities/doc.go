// Package activities implements the side effects of a product refresh: snapshotting
// inputs into staging, running the transform in DuckDB, checking the output against
// its contract and rules, and publishing an immutable version behind a conditionally
// written latest pointer. The activities are methods on Activities, which holds
// their dependencies; the worker registers them under the names in package refresh.
//
// Object layout in the store:
//
//	_staging/<domain>/<product>/<run>/inputs/<input>/<n>.<ext>   snapshots of the inputs
//	_staging/<domain>/<product>/<run>/candidate.parquet           the transform's output
//	_staging/<domain>/<product>/<run>/{data,quarantine}.parquet   the checked output, split
//	_staging/<domain>/<product>/<run>/quality.json                the quality report
//	<domain>/<product>/v<version>/…                               a published version
//	<domain>/<product>/latest.json                                the commit point
//
// Readers only follow latest.json to a manifest, so nothing under _staging and no
// version whose manifest latest.json has not named is ever visible to them.
package activities
