package odps_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/interop/odps"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.yaml.in/yaml/v3"
)

const exampleMesh = "../../../examples/mesh"

// TestOfficialExamplesValidate checks the validator against the standard's own
// examples, and that it rejects what the schema forbids.
func TestOfficialExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("testdata/examples/*.odps.yaml")
	if err != nil || len(files) != 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := odps.Validate(b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	simple, err := os.ReadFile("testdata/examples/simple-data-product.odps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"no id":           strings.Replace(string(simple), "id: 064c4630-8aad-4dc0-ba95-0f69940e6b18\n", "", 1),
		"unknown key":     string(simple) + "owner: somebody\n",
		"port without id": strings.Replace(string(simple), "  contractId: 12345678-1234-1234-1234-123456789abc\n", "", 1),
		"bad kind":        strings.Replace(string(simple), "kind: DataProduct", "kind: DataContract", 1),
		"bad url":         string(simple) + "managementPorts:\n- {name: x, content: discoverability, url: 'not a url'}\n",
		"bad timestamp":   string(simple) + "productCreatedTs: yesterday\n",
	} {
		if bad == string(simple) {
			t.Fatalf("%s: the mutation changed nothing", name)
		}
		if err := odps.Validate([]byte(bad)); err == nil {
			t.Errorf("%s: validates, want an error", name)
		}
	}
}

// publishExample publishes every product of the example mesh into a new store.
func publishExample(t *testing.T) (storage.Store, *spec.Set, map[string]refresh.Manifest) {
	t.Helper()
	set, ds := spec.Load(exampleMesh)
	if ds.HasErrors() {
		t.Fatalf("load the example mesh: %v", ds.Err())
	}
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st, set, publishtest.PublishMesh(t, st, set)
}

// encodings returns the document as JSON and as YAML, as the CLI prints them.
func encodings(t *testing.T, p *odps.Product) (js, ym []byte) {
	t.Helper()
	js, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if ym, err = yaml.Marshal(p); err != nil {
		t.Fatal(err)
	}
	return js, ym
}

// TestExampleMeshExports: every product of the example mesh exports to a
// document that follows the official schema, as JSON and as YAML, with the
// mesh and without it.
func TestExampleMeshExports(t *testing.T) {
	st, set, published := publishExample(t)
	if len(published) != len(set.Products) || len(published) < 5 {
		t.Fatalf("published %d of %d products", len(published), len(set.Products))
	}
	for ref := range published {
		src, err := odps.Read(t.Context(), st, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		for _, opts := range []odps.Options{{Mesh: set, BaseURL: "https://meshflow.example.com/"}, {}} {
			p := odps.Build(src, opts)
			js, ym := encodings(t, p)
			if err := odps.Validate(js); err != nil {
				t.Errorf("%s (mesh %v) as JSON: %v\n%s", ref, opts.Mesh != nil, err, js)
			}
			if err := odps.Validate(ym); err != nil {
				t.Errorf("%s (mesh %v) as YAML: %v\n%s", ref, opts.Mesh != nil, err, ym)
			}
			if p.ID != odps.ProductID(ref) || p.Domain+"/"+p.Name != ref || p.Version != published[ref].Version {
				t.Errorf("%s: id %s, name %s, domain %s, version %s", ref, p.ID, p.Name, p.Domain, p.Version)
			}
			if len(p.OutputPorts) != 1 || p.OutputPorts[0].ContractID != src.Contract.ID || p.OutputPorts[0].Version != src.Contract.Version {
				t.Errorf("%s: output ports %+v, want the contract %s %s", ref, p.OutputPorts, src.Contract.ID, src.Contract.Version)
			}
			if (opts.BaseURL != "") != (len(p.ManagementPorts) == 3) {
				t.Errorf("%s: %d management ports with base URL %q", ref, len(p.ManagementPorts), opts.BaseURL)
			}
			if opts.Mesh != nil && (p.Team == nil || len(p.Team.Members) == 0 || p.Description == nil || p.Description.Purpose == "") {
				t.Errorf("%s: with the mesh, team %+v and description %+v", ref, p.Team, p.Description)
			}
		}
	}
}

// TestGlobalKPIs checks the mapping of the product with upstream products
// field by field.
func TestGlobalKPIs(t *testing.T) {
	st, set, published := publishExample(t)
	src, err := odps.Read(t.Context(), st, "finance/global-kpis")
	if err != nil {
		t.Fatal(err)
	}
	p := odps.Build(src, odps.Options{Mesh: set, BaseURL: "https://meshflow.example.com/base/"})

	// The id is RFC 9562's UUID version 5 of the name (Python's
	// uuid.uuid5(uuid.NAMESPACE_URL, "meshflow:product:finance/global-kpis")).
	if p.ID != "670f586d-c352-506a-83cf-36fc175b9cf5" {
		t.Errorf("id %s", p.ID)
	}
	if p.APIVersion != "v1.0.0" || p.Kind != "DataProduct" || p.Status != "active" || p.Domain != "finance" || p.Name != "global-kpis" {
		t.Errorf("header %+v", p)
	}
	if p.Description == nil || p.Description.Purpose != "Board-level daily KPIs per region." {
		t.Errorf("description %+v, want the contract's purpose", p.Description)
	}
	if !slices.Equal(p.Tags, []string{"finance", "kpi", "board"}) {
		t.Errorf("tags %v", p.Tags)
	}

	// Input ports: each upstream product by the contract of the version read.
	want := map[string]string{
		"china": "7d0a5f5e-3c1b-4f0e-9a55-2f6c2f7a0c01",
		"emea":  "3f1e2a9b-7d44-4a5e-8c1f-5b0e6d9c2a10",
		"fx":    "0b6f7a52-91c3-4d8e-b1a4-6e2d3c9f8a77",
	}
	upstream := map[string]string{"china": "sales-china/regional-sales", "emea": "sales-emea/regional-sales", "fx": "finance/fx-rates"}
	if len(p.InputPorts) != 3 {
		t.Fatalf("input ports %+v", p.InputPorts)
	}
	for _, in := range p.InputPorts {
		if in.ContractID != want[in.Name] || in.Version != "1.0.0" {
			t.Errorf("input port %s: contract %s %s, want %s 1.0.0", in.Name, in.ContractID, in.Version, want[in.Name])
		}
		if prop(in.CustomProperties, "product") != upstream[in.Name] || prop(in.CustomProperties, "productVersion") != published[upstream[in.Name]].Version {
			t.Errorf("input port %s: custom properties %+v", in.Name, in.CustomProperties)
		}
	}
	out := p.OutputPorts[0]
	if out.Name != "global-kpis" || out.ContractID != "5c2d8e1f-4b6a-4f3d-9e0c-7a1b2c3d4e5f" || out.Version != "1.0.0" || out.Type != "local" || len(out.InputContracts) != 3 {
		t.Errorf("output port %+v", out)
	}
	if prop(out.CustomProperties, "access") != "open" || prop(out.CustomProperties, "format") != "parquet" ||
		prop(out.CustomProperties, "dataUrl") != "https://meshflow.example.com/base/api/v1/products/finance/global-kpis/data" ||
		!strings.HasPrefix(fmt.Sprint(prop(out.CustomProperties, "location")), "file://") {
		t.Errorf("output port custom properties %+v", out.CustomProperties)
	}

	urls := map[string]string{}
	for _, mp := range p.ManagementPorts {
		urls[mp.Name] = mp.Content + " " + mp.URL
	}
	if urls["catalog"] != "discoverability https://meshflow.example.com/base/products/finance/global-kpis" ||
		urls["catalog-api"] != "discoverability https://meshflow.example.com/base/api/v1/products/finance/global-kpis" ||
		urls["metrics"] != "observability https://meshflow.example.com/base/metrics" {
		t.Errorf("management ports %v", urls)
	}

	// The team: the owner team's people, then the stewards.
	var members []string
	for _, m := range p.Team.Members {
		members = append(members, m.Role+":"+m.Username+":"+fmt.Sprint(prop(m.CustomProperties, "email")))
	}
	if p.Team.Name != "finance-data" || !slices.Equal(members, []string{
		"owner:maria.rossi:maria.rossi@acme.example", "owner:omar.haddad:omar.haddad@acme.example",
		"steward:maria.rossi:maria.rossi@acme.example", "steward:omar.haddad:omar.haddad@acme.example"}) {
		t.Errorf("team %s: %v", p.Team.Name, members)
	}
	// No support channel in the contract: the stewards' addresses.
	if len(p.Support) != 2 || p.Support[0].URL != "mailto:maria.rossi@acme.example" || p.Support[0].Tool != "email" {
		t.Errorf("support %+v", p.Support)
	}
	if p.ProductCreatedTs != published["finance/global-kpis"].PublishedAt.UTC().Format("2006-01-02T15:04:05Z07:00") {
		t.Errorf("productCreatedTs %s", p.ProductCreatedTs)
	}
	if prop(p.CustomProperties, "ref") != "finance/global-kpis" || prop(p.CustomProperties, "approval") != "always" ||
		prop(p.CustomProperties, "mesh") != "acme-global" || prop(p.CustomProperties, "owner") != "finance-data" {
		t.Errorf("custom properties %+v", p.CustomProperties)
	}
	if terms, _ := prop(p.CustomProperties, "glossaryTerms").([]string); !slices.Contains(terms, "net-revenue") {
		t.Errorf("glossary terms %v", terms)
	}
	if prop(p.CustomProperties, "sources") != nil {
		t.Errorf("global-kpis reads only products, yet has sources %v", prop(p.CustomProperties, "sources"))
	}

	// The upstream regional sales name their consumer, and their files are sources.
	src, err = odps.Read(t.Context(), st, "sales-china/regional-sales")
	if err != nil {
		t.Fatal(err)
	}
	china := odps.Build(src, odps.Options{Mesh: set})
	if cons, _ := prop(china.CustomProperties, "consumers").([]string); !slices.Equal(cons, []string{"finance/global-kpis"}) {
		t.Errorf("consumers of the China sales: %v", cons)
	}
	if len(china.InputPorts) != 0 || prop(china.CustomProperties, "sources") == nil {
		t.Errorf("China sales: input ports %+v, sources %v", china.InputPorts, prop(china.CustomProperties, "sources"))
	}
	if china.ManagementPorts != nil || prop(china.OutputPorts[0].CustomProperties, "dataUrl") != nil {
		t.Errorf("without a base URL: management ports %+v, output port %+v", china.ManagementPorts, china.OutputPorts[0])
	}
}

// TestContractOnly: without the mesh, team and support come from the contract;
// an upstream version without a contract is named by the product's id; a later
// version keeps the first one's creation time.
func TestContractOnly(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	up := publishtest.Publish(t, st, publishtest.Version{Ref: "raw/events"})
	contractText := `apiVersion: v3.1.0
kind: DataContract
id: 11111111-2222-4333-8444-555555555555
version: 2.1.0
status: deprecated
tenant: acme
description: {purpose: Cleaned events., usage: Join on id., limitations: Only EU.}
tags: [events]
team:
  name: events-team
  members:
    - {username: ann@acme.example, role: owner, dateIn: "2024-01-02"}
    - {username: bob@acme.example, role: engineer, dateIn: "last spring"}
support:
  - {channel: "#events", url: "https://acme.slack.com/archives/C1", tool: slack, scope: interactive}
schema:
  - name: events
    properties:
      - {name: id, logicalType: string}
`
	m := refresh.Manifest{Inputs: []refresh.StagedInput{
		{Name: "events", Format: refresh.FormatParquet, Source: refresh.ProductSourcePrefix + "raw/events", SourceVersion: up.Version},
		{Name: "lookup", Format: refresh.FormatCSV, Source: "s3://lookups/countries.csv"},
	}}
	first := publishtest.Publish(t, st, publishtest.Version{Ref: "clean/events", Contract: contractText, Manifest: m})
	publishtest.Publish(t, st, publishtest.Version{Ref: "clean/events", Contract: contractText, Manifest: m, At: first.PublishedAt.Add(time.Hour)})

	src, err := odps.Read(t.Context(), st, "clean/events")
	if err != nil {
		t.Fatal(err)
	}
	p := odps.Build(src, odps.Options{})
	js, ym := encodings(t, p)
	for _, doc := range [][]byte{js, ym} {
		if err := odps.Validate(doc); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
	}
	if p.Version != "1.1.0" || p.Status != "deprecated" || p.Tenant != "acme" || p.Description.Usage != "Join on id." || p.Description.Limitations != "Only EU." {
		t.Errorf("document %+v", p)
	}
	if p.Team == nil || p.Team.Name != "events-team" || len(p.Team.Members) != 2 || p.Team.Members[0].DateIn != "2024-01-02" || p.Team.Members[1].DateIn != "" {
		t.Errorf("team %+v", p.Team)
	}
	if len(p.Support) != 1 || p.Support[0].Channel != "#events" || p.Support[0].Tool != "slack" {
		t.Errorf("support %+v", p.Support)
	}
	if len(p.InputPorts) != 1 || p.InputPorts[0].ContractID != odps.ProductID("raw/events") || p.InputPorts[0].Version != up.Version {
		t.Errorf("input ports %+v, want raw/events by its product id and version %s", p.InputPorts, up.Version)
	}
	sources, _ := json.Marshal(prop(p.CustomProperties, "sources"))
	if string(sources) != `[{"name":"lookup","format":"csv","uri":"s3://lookups/countries.csv"}]` {
		t.Errorf("sources %s", sources)
	}
	if p.ProductCreatedTs != first.PublishedAt.UTC().Format("2006-01-02T15:04:05Z07:00") {
		t.Errorf("productCreatedTs %s, want the first version's %s", p.ProductCreatedTs, first.PublishedAt)
	}
	if vs, _ := prop(p.CustomProperties, "versions").([]string); !slices.Equal(vs, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("versions %v", vs)
	}
	if p.OutputPorts[0].Version != "2.1.0" || p.OutputPorts[0].ContractID != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("output port %+v", p.OutputPorts[0])
	}

	if _, err := odps.Read(t.Context(), st, "clean/nothing"); !errors.Is(err, odps.ErrNotPublished) {
		t.Errorf("an unknown product: %v, want ErrNotPublished", err)
	}
}

func prop(cps []odps.CustomProperty, name string) any {
	for _, cp := range cps {
		if cp.Property == name {
			return cp.Value
		}
	}
	return nil
}
