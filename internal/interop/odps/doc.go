// Package odps describes a published meshflow data product as an Open Data
// Product Standard (ODPS) v1.0.0 document of the Bitol project
// (https://bitol-io.github.io/open-data-product-standard/), so that data
// catalogs and marketplaces that read ODPS can import the products of a mesh.
// `meshflow catalog export <domain>/<product> --format odps` prints the document
// as YAML (or JSON), and `GET /api/v1/products/<domain>/<name>/odps` answers it
// as JSON.
//
// Read gathers what a document is built from out of the published store: the
// product's latest manifest, the ODCS contract published with it, the committed
// versions, the first version's publication time and, for every input read from
// another product, the contract that product published with the version that was
// read. Build turns that Source, the mesh spec (optional) and the public base URL
// of meshflow serve (optional) into a Product. Build reads nothing, so the same
// Source always gives the same document.
//
// # The mapping, field by field
//
// apiVersion is "v1.0.0" and kind is "DataProduct".
//
// id is a name-based UUID (version 5, SHA-1, in the URL namespace) of
// "meshflow:product:<domain>/<name>": it is stable across versions, exports and
// machines, and does not change when the export is made with or without the mesh
// folder. The readable reference is the custom property ref.
//
// name is the product's name and domain its domain, both as the mesh names
// them. version is the latest published version of the product (such as 1.3.0),
// which meshflow bumps on every publication; the contract's own version is the
// output port's version.
//
// status is the status of the published contract (proposed, draft, active,
// deprecated, retired: ODCS and ODPS share the vocabulary); a contract without
// one gives "active", because a published version is being served. tenant is
// the contract's tenant, when it names one.
//
// description.purpose is the published contract's purpose, or else the spec's
// metadata description; description.usage and description.limitations are the
// contract's. tags are the contract's tags followed by the spec's, without
// repeats. authoritativeDefinitions are the contract's.
//
// team comes from the mesh when the spec is known: its name is the product's
// owner (a principal of mesh.yaml, usually a team), and its members are the
// owner's people (teams expanded to their members) with role "owner", followed
// by the people who approve the product's versions (the product's stewards, or
// else its domain's) with role "steward". A person who is both is listed once
// for each role. Members are named by their principal name, and a principal's
// e-mail is the member's custom property email. Without the spec, team is the
// contract's team.
//
// support is the contract's support channels that have a URL. When the contract
// has none and the spec is known, every steward with an e-mail address is an
// "email" channel (mailto:) of scope "issues".
//
// inputPorts are the inputs read from other products, in the order of the
// manifest: name is the input's name in the spec, contractId and version are the
// id and version of the contract the upstream product published with the version
// that was read. When that version has no contract (products published before
// meshflow kept contracts), contractId is the upstream product's id (as above)
// and version its product version. Each port's custom properties product and
// productVersion name the upstream product and the version read. Inputs read
// from files or object stores have no contract and are no ports: they are the
// custom property sources.
//
// outputPorts hold one port, the published dataset: name is the product's name,
// type is "s3" or "local" (the store it is published to, in the vocabulary of
// ODCS server types), version and contractId are the published contract's
// version and id, and inputContracts repeat the input ports' contracts. Its
// custom properties are format ("parquet"), productVersion, access ("open" or
// "restricted", from the spec), location (where the version's data object is,
// when the reader may see it) and dataUrl (the API that serves the data to
// holders of a grant, when a base URL is known).
//
// managementPorts exist only when a base URL is known (meshflow serve's public
// URL): "catalog" is the product's catalog page and "catalog-api" its JSON entry
// (both content "discoverability"), and "metrics" is the Prometheus endpoint
// (content "observability"), whose series of this product carry the labels
// domain and product.
//
// productCreatedTs is when the product's first committed version was published.
//
// # Custom properties
//
// customProperties hold what is meshflow's own and ODPS does not name:
//
//	ref            the product's reference, "<domain>/<name>"
//	publishedAt    when the latest version was published (RFC 3339, UTC)
//	versions       every committed version, oldest first
//	runId          the Temporal run that published the latest version
//	workflowId     its workflow ID, refresh/<domain>/<name>/…
//	meshRevision   the mesh revision the run resolved the product from
//	breaking       whether the latest version changed the contract in a breaking way
//	quality        rowsIn, rowsOut, quarantined and warnings of the latest version
//	glossaryTerms  the glossary terms the contract's columns link to
//	sources        inputs read from files or object stores: name, format and uri
//	               (the uri only when the reader may see it)
//	mesh           the mesh's name (with the spec)
//	owner          the owner principal (with the spec)
//	approval       the approval mode: never, always or on-breaking-change (with the spec)
//	schedule       cron and timezone of scheduled refreshes (with the spec)
//	consumers      the products of the mesh that read this one (with the spec)
//
// # The schema
//
// Validate checks a document against the official ODPS v1.0.0 JSON Schema,
// which is embedded unchanged in schema/odps-json-schema-v1.0.0.json from
// https://github.com/bitol-io/open-data-product-standard; it is licensed under
// the Apache License 2.0, whose text is in schema/LICENSE.
package odps
