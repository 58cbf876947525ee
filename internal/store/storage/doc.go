// Package storage is meshflow's object store: it stages ingested inputs, holds
// transform outputs and publishes immutable product versions.
//
// Two implementations satisfy the [Store] interface: a local directory
// ([LocalStore], the embedded default, URIs "file:///dir" or a plain path) and
// any S3-compatible service ([S3Store], URIs "s3://bucket/prefix"). [Open]
// chooses between them from a URI.
//
// Publication has a single commit point: a product's "latest" pointer is moved
// by a conditional [Store.Put]. [PutOptions.IfNoneMatch] creates a key only if
// it does not exist, and [PutOptions.IfMatch] replaces a key only while it still
// holds the ETag the caller read. A failed precondition is reported as
// [ErrPreconditionFailed], so a writer that lost a race can re-read and retry.
//
// Every object carries a SHA-256 digest of its content. Uploads send it, and
// downloads verify it when the store knows it: a corrupt read ends in
// [ErrChecksumMismatch] instead of returning bad data.
//
// Keys are slash-separated and relative to the store's root. They are validated
// by [ValidateKey]: keys that could escape the root ("..", absolute paths,
// backslashes, empty segments) are rejected with [ErrInvalidKey].
package storage
