package odps

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
)

// Options are what Build takes beside the Source.
type Options struct {
	// Mesh is the loaded mesh, for the team, support, access, approval,
	// schedule and consumers; nil builds from the store alone.
	Mesh *spec.Set
	// BaseURL is where meshflow serve is reached, such as
	// "https://meshflow.example.com"; "" leaves out the management ports and
	// the data URL.
	BaseURL string
	// HideEmails leaves out people's e-mail addresses, for callers who are not
	// signed in (the contract's own support channels stay).
	HideEmails bool
}

// Build describes a published product as an ODPS v1.0.0 document. The package
// documentation gives the mapping field by field.
func Build(src Source, opts Options) *Product {
	m, c := src.Manifest, src.Contract
	ref := m.Product
	domain, name, _ := strings.Cut(ref, "/")
	var sp *spec.Product
	if opts.Mesh != nil {
		sp = opts.Mesh.Product(ref)
	}
	base := strings.TrimRight(opts.BaseURL, "/")

	p := &Product{APIVersion: APIVersion, Kind: Kind, ID: ProductID(ref), Name: name, Version: m.Version,
		Status: "active", Domain: domain}
	if c != nil {
		if c.Status != "" {
			p.Status = c.Status
		}
		p.Tenant = c.Tenant
		for _, d := range c.AuthoritativeDefinitions {
			if d.Type != "" && d.URL != "" {
				p.AuthoritativeDefinitions = append(p.AuthoritativeDefinitions, AuthoritativeDefinition{Type: d.Type, URL: d.URL, Description: d.Description})
			}
		}
	}
	p.Description = description(c, sp)
	p.Tags = tags(c, sp)

	// Input ports: the products read, by the contract they were read under.
	var sources []sourceValue
	var inputContracts []InputContract
	for _, in := range m.Inputs {
		up, ok := src.Upstreams[in.Name]
		if !ok {
			if in.UpstreamProduct() != "" {
				up = Upstream{Product: in.UpstreamProduct(), Version: in.SourceVersion}
			} else {
				sources = append(sources, sourceValue{Name: in.Name, Format: string(in.Format), URI: in.Source})
				continue
			}
		}
		port := InputPort{Name: in.Name, ContractID: up.ContractID, Version: up.ContractVersion,
			CustomProperties: []CustomProperty{
				{Property: "product", Value: up.Product},
				{Property: "productVersion", Value: up.Version},
			}}
		if port.ContractID == "" {
			port.ContractID, port.Version = ProductID(up.Product), up.Version
		}
		if port.Version == "" {
			port.Version = up.Version
		}
		p.InputPorts = append(p.InputPorts, port)
		inputContracts = append(inputContracts, InputContract{ID: port.ContractID, Version: port.Version})
	}

	p.OutputPorts = []OutputPort{outputPort(src, sp, base, inputContracts)}
	if base != "" {
		p.ManagementPorts = []ManagementPort{
			{Name: "catalog", Content: "discoverability", Type: "rest", URL: base + "/products/" + ref,
				Description: "The product's page in the meshflow catalog: schema, glossary terms, freshness, versions with their quality, lineage and how to read it."},
			{Name: "catalog-api", Content: "discoverability", Type: "rest", URL: base + "/api/v1/products/" + ref,
				Description: "The latest version's manifest, the committed versions and the glossary terms, as JSON."},
			{Name: "metrics", Content: "observability", Type: "rest", URL: base + "/metrics",
				Description: fmt.Sprintf(`Prometheus metrics; this product's series carry the labels domain=%q and product=%q (freshness, its SLA, lateness, pending approvals, runs, rows and failing rules).`, domain, name)},
		}
	}
	p.Team = team(c, sp, opts.Mesh, opts.HideEmails)
	p.Support = support(c, sp, opts.Mesh, ref, opts.HideEmails)
	if !src.FirstPublishedAt.IsZero() {
		p.ProductCreatedTs = timestamp(src.FirstPublishedAt)
	}
	p.CustomProperties = customProperties(src, sp, opts.Mesh, sources)
	return p
}

// ProductID is the id of a product's documents: the name-based UUID (version
// 5, in the URL namespace) of "meshflow:product:<domain>/<name>".
func ProductID(ref string) string {
	// The URL namespace of RFC 9562, appendix A.
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte("meshflow:product:" + ref))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // the RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func description(c *contract.Contract, sp *spec.Product) *Description {
	var d Description
	if c != nil {
		d = Description{Purpose: c.Description.Purpose, Usage: c.Description.Usage, Limitations: c.Description.Limitations}
	}
	if d.Purpose == "" && sp != nil {
		d.Purpose = sp.Metadata.Description
	}
	if d == (Description{}) {
		return nil
	}
	return &d
}

func tags(c *contract.Contract, sp *spec.Product) []string {
	var out []string
	add := func(ts []string) {
		for _, t := range ts {
			if t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if c != nil {
		add(c.Tags)
	}
	if sp != nil {
		add(sp.Metadata.Tags)
	}
	return out
}

func outputPort(src Source, sp *spec.Product, base string, inputs []InputContract) OutputPort {
	m, c := src.Manifest, src.Contract
	_, name, _ := strings.Cut(m.Product, "/")
	port := OutputPort{Name: name, Version: m.ContractVersion, InputContracts: inputs,
		Description: fmt.Sprintf("Version %s of %s: one Parquet file in the mesh's object store, checked against the contract before publication.", m.Version, m.Product)}
	switch src.StoreScheme {
	case "s3":
		port.Type = "s3"
	case "file":
		port.Type = "local"
	}
	if c != nil {
		port.ContractID = c.ID
		if c.Version != "" {
			port.Version = c.Version
		}
	}
	if port.Version == "" {
		port.Version = m.Version
	}
	port.CustomProperties = []CustomProperty{
		{Property: "format", Value: string(refresh.FormatParquet)},
		{Property: "productVersion", Value: m.Version},
	}
	if sp != nil {
		port.CustomProperties = append(port.CustomProperties, CustomProperty{Property: "access", Value: sp.AccessMode(),
			Description: "open: anyone in the mesh reads it; restricted: another domain reads it only under an access grant"})
	}
	if src.DataURI != "" {
		port.CustomProperties = append(port.CustomProperties, CustomProperty{Property: "location", Value: src.DataURI})
	}
	if base != "" {
		port.CustomProperties = append(port.CustomProperties, CustomProperty{Property: "dataUrl", Value: base + "/api/v1/products/" + m.Product + "/data",
			Description: "GET with a bearer token: the data, for the product's owners and stewards and for holders of an access grant"})
	}
	return port
}

// team is the owner's people and the stewards from the mesh, or else the
// contract's team.
func team(c *contract.Contract, sp *spec.Product, set *spec.Set, hideEmails bool) *Team {
	if sp != nil {
		t := &Team{Name: sp.Metadata.Owner}
		member := func(person, role string) TeamMember {
			tm := TeamMember{Username: person, Role: role}
			if pr := set.Principal(person); pr != nil && pr.Email != "" && !hideEmails {
				tm.CustomProperties = []CustomProperty{{Property: "email", Value: pr.Email}}
			}
			return tm
		}
		for _, person := range set.People([]string{sp.Metadata.Owner}) {
			t.Members = append(t.Members, member(person, spec.RoleOwner))
		}
		for _, person := range set.People(set.Stewards(sp)) {
			t.Members = append(t.Members, member(person, spec.RoleSteward))
		}
		if d := set.Domain(sp.Metadata.Domain); d != nil && d.Description != "" {
			t.Description = "Owners and stewards of " + sp.Ref() + ", in the domain " + d.Name + ": " + d.Description
		}
		return t
	}
	if c == nil || c.Team == nil {
		return nil
	}
	t := &Team{Name: c.Team.Name, Description: c.Team.Description, Tags: slices.Clone(c.Team.Tags)}
	for _, cm := range c.Team.Members {
		if cm.Username == "" {
			continue
		}
		t.Members = append(t.Members, TeamMember{Username: cm.Username, Name: cm.Name, Description: cm.Description, Role: cm.Role,
			DateIn: date(cm.DateIn), DateOut: date(cm.DateOut), ReplacedByUsername: cm.ReplacedByUsername, Tags: slices.Clone(cm.Tags)})
	}
	if t.Name == "" && t.Description == "" && len(t.Members) == 0 {
		return nil
	}
	return t
}

// date keeps a date written as YYYY-MM-DD, as ODPS requires; anything else is
// left out.
func date(s string) string {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return ""
	}
	return s
}

// support is the contract's channels, or else the stewards' e-mail addresses.
func support(c *contract.Contract, sp *spec.Product, set *spec.Set, ref string, hideEmails bool) []Support {
	var out []Support
	if c != nil {
		for _, ch := range c.Support {
			if ch.Channel == "" || ch.URL == "" {
				continue
			}
			out = append(out, Support{Channel: ch.Channel, URL: ch.URL, Description: ch.Description, Tool: ch.Tool, Scope: ch.Scope, InvitationURL: ch.InvitationURL})
		}
	}
	if len(out) > 0 || sp == nil || hideEmails {
		return out
	}
	for _, person := range set.People(set.Stewards(sp)) {
		if pr := set.Principal(person); pr != nil && pr.Email != "" {
			out = append(out, Support{Channel: person, URL: "mailto:" + pr.Email, Tool: "email", Scope: "issues",
				Description: "A steward of " + ref + ": approves its versions and answers questions about its data."})
		}
	}
	return out
}

// The values of custom properties that are objects, in a fixed key order.
type sourceValue struct {
	Name   string `json:"name" yaml:"name"`
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	URI    string `json:"uri,omitempty" yaml:"uri,omitempty"`
}

type qualityValue struct {
	RowsIn      int64 `json:"rowsIn" yaml:"rowsIn"`
	RowsOut     int64 `json:"rowsOut" yaml:"rowsOut"`
	Quarantined int64 `json:"quarantined" yaml:"quarantined"`
	Warnings    int   `json:"warnings" yaml:"warnings"`
}

type scheduleValue struct {
	Cron     string `json:"cron" yaml:"cron"`
	Timezone string `json:"timezone,omitempty" yaml:"timezone,omitempty"`
}

func customProperties(src Source, sp *spec.Product, set *spec.Set, sources []sourceValue) []CustomProperty {
	m, c := src.Manifest, src.Contract
	cp := []CustomProperty{
		{Property: "ref", Value: m.Product, Description: "the product's reference in the mesh, <domain>/<name>"},
		{Property: "publishedAt", Value: timestamp(m.PublishedAt), Description: "when the latest version was published"},
		{Property: "versions", Value: slices.Clone(src.Versions), Description: "the committed versions, oldest first"},
	}
	add := func(property string, value any, description string) {
		cp = append(cp, CustomProperty{Property: property, Value: value, Description: description})
	}
	if m.RunID != "" {
		add("runId", m.RunID, "the Temporal run that published the latest version")
	}
	if m.WorkflowID != "" {
		add("workflowId", m.WorkflowID, "the Temporal workflow of that run")
	}
	if m.MeshRevision != "" {
		add("meshRevision", m.MeshRevision, "the mesh revision the run resolved the product from")
	}
	add("breaking", m.Breaking, "whether the latest version changed the contract in a way that breaks consumers")
	q := m.Quality
	add("quality", qualityValue{RowsIn: q.RowsIn, RowsOut: q.RowsOut, Quarantined: q.Quarantined, Warnings: q.Warnings},
		"rows of the latest version: rows in = rows out + rows quarantined; warnings counts the warning rules that failed")
	if c != nil {
		if terms := c.GlossaryTerms(); len(terms) > 0 {
			add("glossaryTerms", terms, "the glossary terms the contract's columns link to")
		}
	}
	if len(sources) > 0 {
		add("sources", sources, "inputs read from files or object stores rather than from other products")
	}
	if set != nil && set.Mesh != nil && set.Mesh.Metadata.Name != "" {
		add("mesh", set.Mesh.Metadata.Name, "the mesh the product belongs to")
	}
	if sp == nil {
		return cp
	}
	add("owner", sp.Metadata.Owner, "the principal that owns the product")
	approval := sp.Governance.Approval
	if approval == "" {
		approval = refresh.ApprovalNever
	}
	add("approval", string(approval), "when a new version needs a steward's sign-off: never, always or on-breaking-change")
	if s := sp.Schedule; s != nil {
		add("schedule", scheduleValue{Cron: s.Cron, Timezone: s.Timezone}, "when the product is refreshed")
	}
	var consumers []string
	for _, cons := range set.Consumers(sp.Ref()) {
		consumers = append(consumers, cons.Ref())
	}
	if len(consumers) > 0 {
		add("consumers", consumers, "the products of the mesh that read this one")
	}
	return cp
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
