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
//	mux.Handle("/", web.New(web.Deps{Store: st, Mesh: set, Control: c, Auth: authn, TemporalUI: ui, Logger: logger}))
//
// `meshflow dev` serves them the same way on its --api address (127.0.0.1:8080
// by default), where its dev tokens sign in.
//
// # Routes
//
//	GET  /                             catalog: ?q=&domain=&tag=&owner=&term=&class=
//	GET  /products/<domain>/<name>     one product
//	GET  /runs[?product=<domain>/<name>]  recent refresh runs, live from Temporal
//	GET  /inbox                        runs waiting for the signed-in principal
//	POST /inbox/decide                 approve or reject (CSRF-protected)
//	GET  /api/v1/products              the catalog search as JSON (same parameters, plus limit)
//	GET  /api/v1/products/<domain>/<name>  a product's latest manifest, versions and glossary terms
//	GET  /signin, POST /signin         sign in with a bearer token (kept in an HttpOnly, SameSite=Strict cookie)
//	POST /signout                      forget the token
//	GET  /static/style.css
//
// The bearer token is checked by the same authenticator as the API on every
// request; the principal of a decision is always the authenticated one.
package web
