// Package policy compiles and evaluates the mesh-wide policies of mesh.yaml: CEL
// expressions that are true when a product complies. An error-severity policy
// that does not hold fails `meshflow validate` and, in a run, blocks
// publication; a warning-severity one is reported only.
//
// # Facts
//
// A policy sees the same facts at validate time and in a run, because both build
// them with Facts from the same resolved product: the refresh.Product that
// meshrev.Product makes of a product spec, which `meshflow apply` stores in the
// mesh revision and a run reads back from it. meshcheck resolves every product
// that way before it evaluates the policies, instead of reading the raw spec.
//
// `product` is the product's metadata and governance:
//
//   - name, domain: the product's name and its domain, as the spec writes them.
//   - owner: the principal named in metadata.owner (usually a team), as written.
//   - description: metadata.description ("" when missing).
//   - tags: metadata.tags (an empty list when missing).
//   - inputs: one string per input, in the spec's order: the product reference
//     ("<domain>/<name>", without the "@<major>" of a pinned input) of an input
//     that reads another product, otherwise the
//     URI as the spec writes it. A file:// URI stays relative to the mesh folder
//     ("file://data/fx.csv"), although a run reads it from an absolute path, so
//     that a policy does not depend on where the mesh was applied.
//   - access: "open" or "restricted" (the default), whether products of other
//     domains need a grant to read this one.
//   - approval: the approval mode, "never" (the default), "always" or
//     "on-breaking-change".
//   - stewards: the people who approve publication: the product's stewards, or
//     else its domain's, with every team expanded into its members (as in
//     "maria.rossi" in product.stewards). This is who a run asks to sign off.
//   - stewardPrincipals: the same stewards as written, before teams are
//     expanded (as in "governance-board" in product.stewardPrincipals).
//
// `contract` is the product's ODCS contract as written, as generic values (the
// document's keys: apiVersion, version, status, schema, ...). `quality` is the
// run's quality report (refresh.Quality as JSON: rowsIn, rowsOut, quarantined, rejected (input lines set aside),
// rules, blocked, warnings, history (how many published versions the history
// rules and anomaly checks compared with) and anomalies (the built-in anomaly
// warnings: rule, metric, column, value, median, mad, score, versions,
// message), so that `quality.anomalies.size() == 0` may block a run that has
// one); it exists only in a run, so outside one the
// policies whose rule mentions quality are skipped.
//
// `impact` is what the candidate's schema change does to the products that
// read this one (refresh.Impact, package impact): impact.breaksConsumers lists
// the consumers ("<domain>/<name>") whose SQL no longer binds over the
// candidate's columns, so their next run would fail. It is an empty list when
// the columns do not change, and at validate time, where there is no
// candidate. A policy such as `impact.breaksConsumers.size() == 0` blocks a
// change that would break a consumer; consumers cannot pin a major version yet,
// so every consumer counts.
//
// Every evaluation is bounded by CostLimit and fails closed: a policy that
// cannot be evaluated does not hold.
package policy
