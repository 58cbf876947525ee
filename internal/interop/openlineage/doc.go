// Package openlineage reports every refresh of a product to an OpenLineage
// receiver such as Marquez (https://openlineage.io, spec 2-0-2), as plain Go
// structs that the package's schema tests check against the official JSON
// schemas (testdata/schema, Apache-2.0).
//
// # Events
//
// A refresh is one OpenLineage run, its runId the Temporal run ID (a UUID). Its
// START event comes from the Ingest activity; a RUNNING event from Validate,
// with the quality counts when they are known; its last event from the cleanup
// that ends every run: COMPLETE when it published, FAIL when it failed (with an
// errorMessage facet), ABORT when it was rejected, expired, cancelled or
// terminated at any other stage.
//
// # Names
//
//	job         namespace <mesh>                name <domain>/<product>
//	product     namespace meshflow://<mesh>     name <domain>/<product>   (version facet: the product version)
//	s3 input    namespace s3://<bucket>         name <key or prefix>
//	file input  namespace file                  name <absolute path>
//	postgres    namespace postgres://<host>:<port>  name <database>.<table> (a query input: <database>.query.<input>)
//
// <mesh> is the mesh's metadata.name ("meshflow" when unknown). Input products
// carry the version the run read; the output carries the version published.
// The COMPLETE event's output has the schema, dataQualityMetrics (rowCount,
// bytes, and per column nullCount, distinctCount (approximate), and min and max
// of numeric columns, as Validate measured them over the rows out),
// dataQualityAssertions (one per rule), columnLineage (best effort, from
// a plain SELECT), documentation and ownership facets. A propagated run has a
// parent facet naming the upstream run whose publication started it; a
// scheduled run has a nominalTime facet read from its workflow ID.
//
// # Delivery
//
// Activities never talk to the receiver. They write each event create-only to an
// outbox in the object store (_lineage/outbox/<run>/<seq>.json, see package
// layout), seq fixed by the kind of event (START 0, RUNNING 10+stage, last
// 99), so a retried activity writes nothing twice and a run's events have an
// order. A Sender, started by meshflow worker and meshflow dev when
// --openlineage-url or --openlineage-file is set, lists the outbox, sends the
// events in key order (by run, then seq), marks each sent (_lineage/sent/…)
// and deletes it. A send that fails stops the pass and is retried with
// backoff, so no event is lost and none of a run overtakes an earlier one; a
// receiver that is down only makes events wait. Events the receiver refuses
// as malformed (HTTP 4xx but 401, 403, 408 and 429) are kept under
// _lineage/rejected/ and skipped.
//
// Delivery is at least once: a sender that dies between a send and its mark
// sends that event again, with the same runId, eventType and eventTime, which
// receivers such as Marquez treat as the same transition.
//
// # Several workers
//
// Every worker may run a Sender; only the holder of the lease
// (_lineage/lease.json: holder and expiry) sends. A sender takes a missing
// lease create-only, and renews its own or takes an expired one with If-Match
// on the ETag it read, so two senders never both win; the lease lasts LeaseTTL
// (30s) and is renewed every pass and during long passes. Clocks of the
// workers must agree to well within LeaseTTL.
package openlineage
