// Package web is meshflow's server-rendered web interface: the catalog of
// published data products with search and filters, one page per product
// (contract schema, glossary links, SLA and freshness, versions with their
// quality, a chart of rows across versions, lineage across domains, how to read
// it), the refresh runs of a product live from Temporal, and the approvals inbox
// in which a signed-in steward approves or rejects a run with a comment.
//
// Pages are html/template files embedded in the binary with one small CSS file;
// there is no JavaScript build step and no script at all. Charts and the lineage
// graph are inline SVG rendered on the server.
//
// # Mounting
//
// `meshflow serve` mounts the pages at "/", next to the JSON API under /api/v1:
//
//	decisions := api.NewDecisions(c, reg, logger) // shared with serve.Config.Decisions
//	mux.Handle("/", web.New(web.Deps{Store: st, Mesh: set, Control: c, Decisions: decisions, Auth: authn, TemporalUI: ui, Logger: logger}))
//
// `meshflow dev` serves them the same way on its --api address (127.0.0.1:8080
// by default), where its dev tokens sign in.
//
// # Routes
//
// The route table (routes in web.go) is the only place routes are registered;
// each says whether it is public. Public:
//
//	GET  /                             catalog: ?q=&domain=&tag=&owner=&term=&class=
//	GET  /products/<domain>/<name>     one product (where the data is stored, and its runs, only when signed in)
//	GET  /api/v1/products              the catalog search as JSON (same parameters, plus limit)
//	GET  /api/v1/products/<domain>/<name>  a product's latest manifest, versions and glossary terms
//	GET  /api/v1/products/<domain>/<name>/odps  the product as an ODPS v1.0.0 document (package odps)
//	GET  /signin, POST /signin         sign in with a bearer token (CSRF-protected)
//	GET  /static/style.css
//
// Signed in only (anyone else gets 401 and the sign-in form):
//
//	GET  /runs[?product=<domain>/<name>]  recent refresh runs, live from Temporal (like /api/v1/runs)
//	GET  /inbox                        runs waiting for the signed-in principal
//	POST /inbox/decide                 approve or reject (CSRF-protected)
//	POST /signout                      end the session (CSRF-protected)
//
// # Sessions
//
// Signing in checks the token with the same authenticator as the API and keeps
// it on the server under a random 32-byte session id; the browser holds only
// the id, in an HttpOnly, SameSite=Strict cookie that is Secure when
// Deps.PublicURL is https (behind a TLS proxy) or the request came over TLS.
// Every request checks the session's token again; sign-out ends the session on
// the server. Sessions live in the process's memory: a restart signs everyone
// out. POST /signin needs the token of a form this server gave the same browser
// (bound to a pre-session cookie), and form posts that the browser says come
// from another site (Origin, Sec-Fetch-Site) are refused. The sign-in's next
// page is a path of this site, else "/". The principal of a decision is always
// the authenticated one.
//
// # Decisions and JSON
//
// The inbox lists runs with control.ReadInbox, the query GET /api/v1/approvals
// uses, and POST /inbox/decide hands the form to api.Decisions, the one
// decision path of the API: a rejection needs a comment, a comment is at most
// api.MaxComment bytes, and a refused decision gets the status POST
// /api/v1/decisions would answer (400, 404, 409, 403, 502), shown on an error
// page with the same words. The catalog's JSON endpoints answer errors in the
// API's format (api.Error).
package web
