// Package spec holds the files a mesh is made of, as Go values: mesh.yaml (domains,
// principals and roles, glossary, mesh-wide policies, storage and Temporal settings,
// owned by the governance team) and one DataProduct spec per data product (metadata,
// inputs, SQL transform, output contract, governance, output and schedule, owned by a
// domain team). Load reads a mesh directory strictly and reports every problem with
// its file, line and column; cross-file checks (unknown domains, principals, products,
// cycles between products, unsafe names) are made here as well.
//
// Output contracts are ODCS v3.1.0 documents, read by package contract; checking the
// CEL rules inside them against their columns is the job of package rules, and
// package meshcheck runs all of it for `meshflow validate`.
package spec
