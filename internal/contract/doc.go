// Package contract reads ODCS data contracts: the Open Data Contract Standard
// v3.1.0 of the Bitol project (https://bitol-io.github.io/open-data-contract-standard/),
// in which every meshflow data product declares the output it promises — its
// schema, classification, quality rules, roles, team and service levels.
//
// Load reads a standalone .odcs.yaml file and FromNode a contract written inline in
// a product spec. Both check the contract against the official ODCS v3.1.0 JSON
// Schema and report every problem as a positioned diagnostic (diag.List) with a
// plain sentence and a hint, then fill a Contract leniently with whatever could be
// read, so that later checks can go on and report their own problems too. Fields
// that the Go types do not name, custom properties included, stay available in
// Contract.Raw and Quality.Raw.
//
// Quality rules that meshflow does not evaluate itself (text and SQL rules, and
// custom rules whose engine is not cel) are kept, and an informational diagnostic
// with code "not-evaluated" says so.
//
// The JSON Schema in schema/odcs-json-schema-v3.1.0.json is embedded unchanged from
// https://github.com/bitol-io/open-data-contract-standard; it is licensed under the
// Apache License 2.0, whose text is in schema/LICENSE.
//
// The package is internal: its API follows what meshflow needs (positioned
// diagnostics of package diag, the rules' view of quality) and changes with it.
// Other projects that need ODCS read the same official schema; the subpackage
// contractdiff, which classifies changes between two contracts, is internal for the
// same reason.
package contract
