// Package notify tells people what happens in the mesh: approval requests
// and escalations, decisions, publications, failures and expiries, breaking
// changes and access requests and grants, routed by the notifications of
// mesh.yaml to webhooks (generic JSON, Slack, Teams) and e-mail.
//
// # Routing
//
// mesh.yaml lists channels (spec.Notification); package spec checks them
// with positions, and the mesh revision carries them, so that a worker routes
// by the mesh that was applied, never by a workflow's input:
//
//	notifications:
//	  - name: finance-stewards
//	    webhook: https://hooks.example.com/T000/B000   # or email: [maria.rossi@acme.example]
//	    format: slack                                   # json (default) | slack | teams
//	    events: [approval-requested, approval-escalated, decided, published, failed, expired]
//	    domains: [finance]                              # optional filter
//
// A webhook is https (http only to localhost, 127.0.0.1 or ::1). An event
// goes to every channel that lists its kind and, when the channel has
// domains, whose domain is the event's product's.
//
// # Events
//
// Event is the one shape of every event; the json format posts it as is, and
// event.schema.json (Schema, JSON Schema 2020-12) documents it. Every event
// names the product, the run (workflow and run ID), says what happened
// (title, text) and what to do (action), and carries a link under the
// sender's public URL (serve's --public-url, or dev's address):
//
//	approval-requested, approval-escalated  <url>/inbox#<workflow ID>  (the run's item in the inbox)
//	failed, expired                         <url>/runs?product=<domain>/<name>
//	any other                               <url>/products/<domain>/<name>
//
// An approval request and a breaking change also carry the govern stage's
// impact analysis, a sentence per consumer ("film/airport-cities will fail:
// its SQL reads `city`, removed here"), in impact and in the text.
//
// The slack format is an incoming-webhook message (text, and Block Kit
// blocks: header, sections, context, a button); teams an Office 365 connector
// MessageCard (title, text, facts, an OpenUri action). E-mail is plain text
// (quoted-printable UTF-8) with the same facts; its Message-ID is the event ID.
//
// Who emits what — activities, never workflow code, except two calls behind
// workflow.GetVersion (ChangeNotifyEscalation, ChangeNotifyAccessExpiring):
//
//	breaking-change-proposed, approval-requested   Govern (it routes the approval as the workflow will)
//	approval-escalated                             NotifyEscalation, from the workflow's escalation timer
//	decided (approved), published                  Publish
//	failed, expired, decided (rejected)            CleanupStaging, the end of every run
//	access-requested                               ResolveAccess, the start of an AccessRequest
//	access-granted                                 RecordGrant
//	access-expiring                                NotifyAccessExpiring, from the AccessRequest's warning timer (a tenth of the grant before its end, at most a week)
//	product-late                                   the Sender itself (CheckLate, every 5m): once per late version
//	deprecation-approaching                        Ingest and PlanPartitions of a consumer whose input pins a deprecated major, until its date
//
// product-late comes from no run: the Sender compares every product's latest
// version with its contract's freshness SLA (catalog.FreshnessOf, as the
// meshflow_product_late metric does), counting from the later of its
// publication and the last run that found it unchanged (catalog.FreshAt),
// while a route takes the event, and
// leaves one event per late version in the outbox of the run that published
// it (seq SeqLate). deprecation-approaching is told by every run of a
// consumer that reads a pinned major (`product: aviation/airports@1`) whose
// deprecation date is still to come, once per run and input (seq
// SeqDeprecation plus the input's place, at most SeqDeprecationLast), to the
// consumer's domain.
//
// # Delivery
//
// Activities write each event create-only to the outbox
// _notify/outbox/<run>/<seq>.json (package outbox, keys of
// layout.NotifyOutbox), seq fixed by the kind (Seq…), so a retried activity
// writes the same event once; its ID is <run>-<seq>-<kind>. A failed write is
// logged and never fails the activity. A Sender (meshflow worker and
// meshflow dev run one, under a lease) delivers each event to each of its
// channels on its own: a delivered channel is recorded in
// _notify/sent/<run>/<seq>.state.json and never tried again, a failure is retried
// with exponential backoff (5s doubling, at most 15m) up to MaxAttempts (8)
// times, and then, or at once when the receiver refuses the event (HTTP 4xx
// but 401, 403, 408, 429; SMTP 5xx), it is kept as a dead letter under
// _notify/dead/<run>/<seq>/<channel>.json and counted in
// meshflow_notify_dead_letters_total. A channel that is down holds back no
// other channel and no other event. Delivery is at least once: receivers
// deduplicate on the event ID.
//
// # E-mail
//
// The SMTP server comes from the worker's environment: MESHFLOW_SMTP_ADDR
// (host:port), MESHFLOW_SMTP_USER and MESHFLOW_SMTP_PASSWORD (PLAIN auth,
// only over TLS or to localhost), MESHFLOW_SMTP_FROM. STARTTLS is used when
// the server offers it. A worker whose mesh routes e-mail without a server
// warns at start; its e-mail ends as dead letters.
package notify
