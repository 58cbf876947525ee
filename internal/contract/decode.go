package contract

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"go.yaml.in/yaml/v3"
)

// The decoder fills the Go structs leniently: the schema has already reported
// every key and type that is wrong, so whatever cannot be read is skipped.
type decoder struct {
	doc  *yamlfile.Doc
	ds   *diag.List
	base int // the length of the contract's own path, to name things relative to it
}

// fields gives lenient access to the keys of a mapping node; a nil or non-mapping
// node reads as empty.
type fields struct{ n *yaml.Node }

func mapping(n *yaml.Node) fields {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return fields{}
	}
	return fields{n}
}

// get returns the value of a key, aliases resolved; the last of duplicate keys wins,
// as in yamlfile.Value.
func (f fields) get(key string) *yaml.Node {
	if f.n == nil {
		return nil
	}
	var v *yaml.Node
	for i := 0; i+1 < len(f.n.Content); i += 2 {
		if f.n.Content[i].Value == key {
			v = f.n.Content[i+1]
		}
	}
	return resolve(v)
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func scalarString(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		return ""
	}
	return n.Value
}

func (f fields) str(key string) string { return scalarString(f.get(key)) }

func (f fields) bool(key string) bool {
	b, _ := yamlfile.Value(f.get(key)).(bool)
	return b
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case uint64:
		return float64(v), true
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func (f fields) num(key string) *float64 {
	n := f.get(key)
	if n == nil || n.Kind != yaml.ScalarNode {
		return nil
	}
	if v, ok := number(yamlfile.Value(n)); ok {
		return &v
	}
	return nil
}

func (f fields) int(key string, def int) int {
	if v, ok := yamlfile.Value(f.get(key)).(int64); ok && v == int64(int(v)) {
		return int(v)
	}
	return def
}

func (f fields) list(key string) []*yaml.Node {
	n := f.get(key)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}

func (f fields) strs(key string) []string {
	var out []string
	for _, n := range f.list(key) {
		if s := scalarString(n); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (f fields) values(key string) []any {
	n := f.get(key)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	v, _ := yamlfile.Value(n).([]any)
	return v
}

func (f fields) object(key string) map[string]any {
	v, _ := yamlfile.Value(f.get(key)).(map[string]any)
	return v
}

// numbers reads a list of numbers, or nil when it is not one.
func numbers(v any) []float64 {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]float64, 0, len(list))
	for _, e := range list {
		f, ok := number(e)
		if !ok {
			return nil
		}
		out = append(out, f)
	}
	return out
}

// at extends a path without sharing the backing array of the parent's path.
func at(path []any, elems ...any) []any { return slices.Concat(path, elems) }

func (d *decoder) contract(c *Contract, n *yaml.Node) {
	f := mapping(n)
	c.APIVersion = f.str("apiVersion")
	c.Kind = f.str("kind")
	c.ID = f.str("id")
	c.Version = f.str("version")
	c.Status = f.str("status")
	c.Name = f.str("name")
	c.Domain = f.str("domain")
	c.DataProduct = f.str("dataProduct")
	c.Tenant = f.str("tenant")
	d.deprecated(f, "dataProduct", "ODCS 3.1.0 deprecates dataProduct: name the contract's product in the product spec instead")
	d.deprecated(f, "slaDefaultElement", "ODCS 3.1.0 deprecates slaDefaultElement: give each SLA property its own element")
	c.Tags = f.strs("tags")
	c.ContractCreatedTs = f.str("contractCreatedTs")

	desc := mapping(f.get("description"))
	c.Description = Description{
		Purpose:                  desc.str("purpose"),
		Usage:                    desc.str("usage"),
		Limitations:              desc.str("limitations"),
		AuthoritativeDefinitions: authoritativeDefinitions(desc),
		CustomProperties:         customProperties(desc),
	}
	c.AuthoritativeDefinitions = authoritativeDefinitions(f)
	c.CustomProperties = customProperties(f)

	for i, o := range f.list("schema") {
		c.Schema = append(c.Schema, d.object(o, at(c.Path, "schema", i)))
	}
	for _, s := range f.list("servers") {
		sf := mapping(s)
		raw, _ := yamlfile.Value(s).(map[string]any)
		c.Servers = append(c.Servers, Server{ID: sf.str("id"), Server: sf.str("server"), Type: sf.str("type"),
			Description: sf.str("description"), Environment: sf.str("environment"), Raw: raw})
	}
	if t := f.get("team"); t != nil {
		switch t.Kind {
		case yaml.MappingNode:
			tf := mapping(t)
			c.Team = &Team{ID: tf.str("id"), Name: tf.str("name"), Description: tf.str("description"),
				Tags: tf.strs("tags"), Members: teamMembers(tf.list("members"))}
		case yaml.SequenceNode: // the list form, deprecated since ODCS 3.1.0
			c.Team = &Team{Members: teamMembers(f.list("team"))}
			d.ds.Warnf(d.doc.Pos(t), "deprecated", "write team: {name: …, members: [...]} instead",
				"a list of team members is deprecated since ODCS 3.1.0")
		}
	}
	for _, s := range f.list("support") {
		sf := mapping(s)
		c.Support = append(c.Support, SupportChannel{ID: sf.str("id"), Channel: sf.str("channel"), URL: sf.str("url"),
			Description: sf.str("description"), Tool: sf.str("tool"), Scope: sf.str("scope"), InvitationURL: sf.str("invitationUrl")})
	}
	for _, r := range f.list("roles") {
		rf := mapping(r)
		c.Roles = append(c.Roles, Role{ID: rf.str("id"), Role: rf.str("role"), Description: rf.str("description"),
			Access: rf.str("access"), FirstLevelApprovers: rf.str("firstLevelApprovers"), SecondLevelApprovers: rf.str("secondLevelApprovers")})
	}
	for _, s := range f.list("slaProperties") {
		sf := mapping(s)
		c.SLAProperties = append(c.SLAProperties, SLAProperty{ID: sf.str("id"), Property: sf.str("property"),
			Value: yamlfile.Value(sf.get("value")), ValueExt: yamlfile.Value(sf.get("valueExt")), Unit: sf.str("unit"),
			Element: sf.str("element"), Driver: sf.str("driver"), Description: sf.str("description"),
			Scheduler: sf.str("scheduler"), Schedule: sf.str("schedule")})
	}
	if p := f.get("price"); p != nil && p.Kind == yaml.MappingNode {
		pf := mapping(p)
		c.Price = &Price{ID: pf.str("id"), PriceAmount: pf.num("priceAmount"), PriceCurrency: pf.str("priceCurrency"), PriceUnit: pf.str("priceUnit")}
	}
}

func teamMembers(nodes []*yaml.Node) []TeamMember {
	var out []TeamMember
	for _, m := range nodes {
		mf := mapping(m)
		out = append(out, TeamMember{ID: mf.str("id"), Username: mf.str("username"), Name: mf.str("name"),
			Description: mf.str("description"), Role: mf.str("role"), DateIn: mf.str("dateIn"), DateOut: mf.str("dateOut"),
			ReplacedByUsername: mf.str("replacedByUsername"), Tags: mf.strs("tags")})
	}
	return out
}

func authoritativeDefinitions(f fields) []AuthoritativeDefinition {
	var out []AuthoritativeDefinition
	for _, a := range f.list("authoritativeDefinitions") {
		af := mapping(a)
		out = append(out, AuthoritativeDefinition{ID: af.str("id"), URL: af.str("url"), Type: af.str("type"), Description: af.str("description")})
	}
	return out
}

func customProperties(f fields) []CustomProperty {
	var out []CustomProperty
	for _, p := range f.list("customProperties") {
		pf := mapping(p)
		out = append(out, CustomProperty{ID: pf.str("id"), Property: pf.str("property"),
			Value: yamlfile.Value(pf.get("value")), Description: pf.str("description")})
	}
	return out
}

func relationships(f fields) []Relationship {
	var out []Relationship
	for _, r := range f.list("relationships") {
		rf := mapping(r)
		rel := Relationship{Type: rf.str("type"), From: refs(rf.get("from")), To: refs(rf.get("to"))}
		if rel.Type == "" {
			rel.Type = "foreignKey" // the ODCS default
		}
		out = append(out, rel)
	}
	return out
}

// refs reads a relationship end: one reference, or a list of them.
func refs(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		var out []string
		for _, c := range n.Content {
			if s := scalarString(resolve(c)); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	if s := scalarString(n); s != "" {
		return []string{s}
	}
	return nil
}

func (d *decoder) object(n *yaml.Node, path []any) *Object {
	f := mapping(n)
	o := &Object{
		ID: f.str("id"), Name: f.str("name"), PhysicalName: f.str("physicalName"), PhysicalType: f.str("physicalType"),
		LogicalType: f.str("logicalType"), BusinessName: f.str("businessName"), Description: f.str("description"),
		DataGranularityDescription: f.str("dataGranularityDescription"),
		Tags:                       f.strs("tags"),
		Relationships:              relationships(f),
		AuthoritativeDefinitions:   authoritativeDefinitions(f),
		CustomProperties:           customProperties(f),
		Path:                       path,
	}
	for i, p := range f.list("properties") {
		o.Properties = append(o.Properties, d.property(p, at(path, "properties", i)))
	}
	o.Quality = d.qualities(f, path)
	return o
}

func (d *decoder) property(n *yaml.Node, path []any) *Property {
	f := mapping(n)
	p := &Property{
		ID: f.str("id"), Name: f.str("name"), PhysicalName: f.str("physicalName"), LogicalType: f.str("logicalType"),
		PhysicalType: f.str("physicalType"), BusinessName: f.str("businessName"), Description: f.str("description"),
		Classification: f.str("classification"), EncryptedName: f.str("encryptedName"),
		TransformLogic: f.str("transformLogic"), TransformDescription: f.str("transformDescription"),
		TransformSourceObjects: f.strs("transformSourceObjects"),
		Required:               f.bool("required"), Unique: f.bool("unique"), PrimaryKey: f.bool("primaryKey"),
		Partitioned: f.bool("partitioned"), CriticalDataElement: f.bool("criticalDataElement"),
		PrimaryKeyPosition:       f.int("primaryKeyPosition", -1),
		PartitionKeyPosition:     f.int("partitionKeyPosition", -1),
		LogicalTypeOptions:       f.object("logicalTypeOptions"),
		Tags:                     f.strs("tags"),
		Examples:                 f.values("examples"),
		Relationships:            relationships(f),
		AuthoritativeDefinitions: authoritativeDefinitions(f),
		CustomProperties:         customProperties(f),
		Path:                     path,
	}
	for _, cp := range p.CustomProperties {
		if s, ok := cp.Value.(string); ok && cp.Property == "glossaryTerm" {
			p.GlossaryTerm = s
		}
	}
	for i, c := range f.list("properties") {
		p.Properties = append(p.Properties, d.property(c, at(path, "properties", i)))
	}
	if items := f.get("items"); items != nil && items.Kind == yaml.MappingNode {
		p.Items = d.property(items, at(path, "items"))
	}
	p.Quality = d.qualities(f, path)
	return p
}

func (d *decoder) qualities(f fields, path []any) []*Quality {
	var out []*Quality
	for i, n := range f.list("quality") {
		out = append(out, d.quality(n, at(path, "quality", i)))
	}
	return out
}

func (d *decoder) quality(n *yaml.Node, path []any) *Quality {
	f := mapping(n)
	q := &Quality{
		ID: f.str("id"), Name: f.str("name"), Description: f.str("description"), Type: f.str("type"),
		Dimension: f.str("dimension"), Method: f.str("method"), Severity: f.str("severity"),
		BusinessImpact: f.str("businessImpact"), Schedule: f.str("schedule"), Scheduler: f.str("scheduler"),
		Tags: f.strs("tags"), Unit: f.str("unit"),
		Metric:    cmp.Or(f.str("metric"), f.str("rule")),
		Arguments: f.object("arguments"),
		MustBe:    f.num("mustBe"), MustNotBe: f.num("mustNotBe"),
		MustBeGreaterThan: f.num("mustBeGreaterThan"), MustBeGreaterOrEqualTo: f.num("mustBeGreaterOrEqualTo"),
		MustBeLessThan: f.num("mustBeLessThan"), MustBeLessOrEqualTo: f.num("mustBeLessOrEqualTo"),
		MustBeBetween:      numbers(yamlfile.Value(f.get("mustBeBetween"))),
		MustNotBeBetween:   numbers(yamlfile.Value(f.get("mustNotBeBetween"))),
		Query:              f.str("query"),
		Engine:             f.str("engine"),
		ImplementationNode: f.get("implementation"),
		CustomProperties:   customProperties(f),
		Path:               path,
	}
	if q.Type == "" {
		q.Type = "library" // the ODCS default
	}
	d.deprecated(f, "rule", `ODCS 3.1.0 deprecates rule: write "metric" instead`)
	if n := q.ImplementationNode; n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		q.Implementation = n.Value
	}
	q.ValidValues, _ = q.Arguments["validValues"].([]any)
	if q.ValidValues == nil {
		q.ValidValues = f.values("validValues")
	}
	q.Raw, _ = yamlfile.Value(n).(map[string]any)
	d.notEvaluated(q, f)
	return q
}

// deprecated warns about a key that ODCS still accepts but will remove.
func (d *decoder) deprecated(f fields, key, hint string) {
	if f.n == nil {
		return
	}
	for i := 0; i+1 < len(f.n.Content); i += 2 {
		if k := f.n.Content[i]; k.Value == key {
			d.ds.Warnf(d.doc.Pos(k), "deprecated", hint, "%q is deprecated since ODCS 3.1.0", key)
			return
		}
	}
}

// notEvaluated tells the user about rules that are kept in the contract but that
// meshflow does not check: text and SQL rules, and custom rules of other engines.
func (d *decoder) notEvaluated(q *Quality, f fields) {
	name := d.label(q)
	switch q.Type {
	case "text":
		d.ds.Infof(d.doc.Pos(f.get("type")), "not-evaluated", "",
			"quality rule %s is a text description, which meshflow does not evaluate", name)
	case "sql":
		d.ds.Infof(d.doc.Pos(f.get("type")), "not-evaluated", "to have meshflow check it, write it as a library metric or as type: custom, engine: cel",
			"quality rule %s uses type sql, which meshflow does not evaluate", name)
	case "custom":
		if strings.EqualFold(q.Engine, "cel") {
			return
		}
		engine := q.Engine
		if engine == "" {
			engine = "(none)"
		}
		pos := d.doc.Pos(f.get("engine"))
		if f.get("engine") == nil {
			pos = d.doc.Pos(f.get("type"))
		}
		d.ds.Infof(pos, "not-evaluated", "meshflow evaluates custom rules with engine: cel",
			"quality rule %s uses engine %s, which meshflow does not evaluate", name, engine)
	}
}

// label names a rule in messages: by its name or id, or else by where it is.
func (d *decoder) label(q *Quality) string {
	switch {
	case q.Name != "":
		return fmt.Sprintf("%q", q.Name)
	case q.ID != "":
		return fmt.Sprintf("%q", q.ID)
	}
	var loc []string
	for _, p := range q.Path[min(d.base, len(q.Path)):] {
		loc = append(loc, fmt.Sprint(p))
	}
	return describePath(loc)
}
