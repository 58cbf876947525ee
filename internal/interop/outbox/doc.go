// Package outbox is the durable delivery that OpenLineage events and
// notifications share: activities leave a run's events create-only in an
// outbox in the object store (keys of a layout.Outbox), and a Sender, started
// by meshflow worker and meshflow dev, delivers them at least once. No workflow
// code takes part, so a receiver that is down never blocks or fails a run.
//
// # Writing
//
// Write stores an event as <root>/outbox/<run>/<seq>.json, create-only, and
// skips it when the event was sent already (its marker <root>/sent/<run>/<seq>
// exists): a retried activity neither replaces nor repeats an event.
//
// # Sending
//
// A Sender lists the outbox in key order (by run, then seq), hands each
// event to its Deliver function, marks it sent and deletes it. When the
// run's last event (Last) is sent, the run's markers go. An Ordered sender
// stops the pass at the first event that cannot be delivered, so that no later
// event overtakes it; an unordered one leaves it and goes on, and Deliver may
// return ErrWait to keep an event for a later pass. An event Deliver refuses
// with ErrRejected is kept under <root>/rejected/ and skipped.
//
// # Several workers
//
// Every worker may run a Sender; only the holder of the lease
// (<root>/lease.json: holder and expiry) sends. A sender takes a missing
// lease create-only, and renews its own or takes an expired one with If-Match
// on the ETag it read, so two senders never both win; the lease lasts LeaseTTL
// (30s) and is renewed every pass and during long passes. Clocks of the
// workers must agree to well within LeaseTTL.
package outbox
