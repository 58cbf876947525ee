package contract

import (
	"slices"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"go.yaml.in/yaml/v3"
)

// Contract is one ODCS v3.1.0 data contract. Field names follow the ODCS schema;
// a string field is empty and a list is nil when the contract leaves it out.
type Contract struct {
	// Doc is the YAML document the contract was read from, and Path locates the
	// contract's mapping from Doc.Root (nil for a standalone contract file). The
	// Path of every Object, Property and Quality is also counted from Doc.Root, so
	// c.Doc.PosAt(q.Path...) is the position of a quality rule.
	Doc  *yamlfile.Doc
	Path []any

	APIVersion  string // apiVersion, such as "v3.1.0"
	Kind        string // "DataContract" in a valid contract
	ID          string
	Version     string // the contract's own version
	Status      string // proposed, draft, active, deprecated, retired…
	Name        string
	Domain      string
	DataProduct string // deprecated since ODCS 3.1.0, kept for older contracts
	Tenant      string

	Description              Description
	Tags                     []string
	Schema                   []*Object
	Servers                  []Server
	Team                     *Team // nil when absent; the deprecated list form fills Members
	Support                  []SupportChannel
	Roles                    []Role
	SLAProperties            []SLAProperty
	Price                    *Price
	AuthoritativeDefinitions []AuthoritativeDefinition
	CustomProperties         []CustomProperty
	ContractCreatedTs        string // contractCreatedTs, as written

	// Raw is the whole contract as generic values (see yamlfile.Value), including
	// the custom properties and every field this struct does not name.
	Raw map[string]any
}

// Description says what the data is for.
type Description struct {
	Purpose, Usage, Limitations string
	AuthoritativeDefinitions    []AuthoritativeDefinition
	CustomProperties            []CustomProperty
}

// Object is a table, view, topic or file: an element of the contract's schema.
type Object struct {
	ID, Name, PhysicalName, PhysicalType, LogicalType, BusinessName, Description string
	DataGranularityDescription                                                   string
	Tags                                                                         []string
	Properties                                                                   []*Property
	Relationships                                                                []Relationship
	Quality                                                                      []*Quality
	AuthoritativeDefinitions                                                     []AuthoritativeDefinition
	CustomProperties                                                             []CustomProperty
	Path                                                                         []any // from Contract.Doc.Root
}

// Property is a column or field of an Object, or of an enclosing Property of
// logical type object or array.
type Property struct {
	ID, Name, PhysicalName, LogicalType, PhysicalType, BusinessName, Description string
	Classification, EncryptedName, TransformLogic, TransformDescription          string
	TransformSourceObjects                                                       []string

	Required, Unique, PrimaryKey, Partitioned, CriticalDataElement bool
	// PrimaryKeyPosition and PartitionKeyPosition count from 1; they are -1 (the
	// ODCS default) when not given.
	PrimaryKeyPosition, PartitionKeyPosition int

	LogicalTypeOptions map[string]any // such as minLength, pattern, format, minimum
	Tags               []string
	Examples           []any
	// GlossaryTerm is the value of the custom property named glossaryTerm, which
	// links the property to a term of the mesh glossary.
	GlossaryTerm             string
	Relationships            []Relationship
	Properties               []*Property // the fields of a property of logical type object
	Items                    *Property   // the element of a property of logical type array
	Quality                  []*Quality
	AuthoritativeDefinitions []AuthoritativeDefinition
	CustomProperties         []CustomProperty
	Path                     []any // from Contract.Doc.Root
}

// Quality is one data quality rule, on an object or a property.
type Quality struct {
	ID, Name, Description string
	// Type is library (the default), text, sql or custom.
	Type                                      string
	Dimension, Method, Severity               string
	BusinessImpact, Schedule, Scheduler       string
	Tags                                      []string
	Unit                                      string // such as rows or percent
	Metric                                    string // metric, or the deprecated rule
	Arguments                                 map[string]any
	MustBe, MustNotBe                         *float64 // when numbers; other values are in Raw
	MustBeGreaterThan, MustBeGreaterOrEqualTo *float64
	MustBeLessThan, MustBeLessOrEqualTo       *float64
	MustBeBetween, MustNotBeBetween           []float64 // [low, high]
	// ValidValues comes from arguments.validValues, or from the validValues key of
	// contracts written before ODCS 3.1.
	ValidValues []any
	Query       string // type sql
	Engine      string // type custom: cel, soda, greatExpectations…
	// Implementation is the rule's implementation when it is a string, such as a CEL
	// expression; ImplementationNode is its node in any form, for
	// Contract.Doc.ScalarPos.
	Implementation     string
	ImplementationNode *yaml.Node
	CustomProperties   []CustomProperty
	// Raw is the rule as generic values.
	Raw  map[string]any
	Path []any // from Contract.Doc.Root
}

// Relationship is a foreign key from one or more properties to others. At property
// level From is empty: it is the property itself.
type Relationship struct {
	Type     string // foreignKey
	From, To []string
}

// Server is where the data lives.
type Server struct {
	ID, Server, Type, Description, Environment string
	Raw                                        map[string]any // every connection detail
}

// Team is the people who own the contract.
type Team struct {
	ID, Name, Description string
	Members               []TeamMember
	Tags                  []string
}

// TeamMember is one person of a Team.
type TeamMember struct {
	ID, Username, Name, Description, Role string
	DateIn, DateOut, ReplacedByUsername   string
	Tags                                  []string
}

// SupportChannel is where consumers get help.
type SupportChannel struct {
	ID, Channel, URL, Description, Tool, Scope, InvitationURL string
}

// Role is an access role on the data and who approves it.
type Role struct {
	ID, Role, Description, Access             string
	FirstLevelApprovers, SecondLevelApprovers string
}

// SLAProperty is one service-level agreement, such as latency or retention.
type SLAProperty struct {
	ID, Property string
	Value        any // a string, number, bool or nil
	ValueExt     any
	Unit         string
	Element      string
	Driver       string // regulatory, analytics or operational
	Description  string
	Scheduler    string
	Schedule     string
}

// Price is what a consumer pays for the data.
type Price struct {
	ID            string
	PriceAmount   *float64
	PriceCurrency string
	PriceUnit     string
}

// AuthoritativeDefinition links to a source that says more, such as a business
// definition or an implementation.
type AuthoritativeDefinition struct {
	ID, URL, Type, Description string
}

// CustomProperty is a key and value that ODCS does not define.
type CustomProperty struct {
	ID, Property string
	Value        any
	Description  string
}

// Load reads a standalone ODCS contract file (a .odcs.yaml file). Every problem is
// added to ds. The contract is returned even when it does not conform to the
// schema, filled with what could be read, so that later checks can go on; it is
// nil only when the file is not YAML. ok reports whether no error was found.
func Load(file string, data []byte, ds *diag.List) (c *Contract, ok bool) {
	var local diag.List
	defer ds.Append(&local)
	doc, ok := yamlfile.Parse(file, data, &local)
	if !ok {
		return nil, false
	}
	return fromNode(doc, nil, &local)
}

// FromNode reads a contract written inline in another YAML document, such as the
// contract mapping of a data product spec, at path from doc.Root (path elements
// are mapping keys as strings and list indexes as ints). Positions in diagnostics
// and in the contract point into that document. Otherwise it behaves as Load; the
// contract is nil only when nothing is found at path.
func FromNode(doc *yamlfile.Doc, path []any, ds *diag.List) (c *Contract, ok bool) {
	var local diag.List
	defer ds.Append(&local)
	return fromNode(doc, path, &local)
}

func fromNode(doc *yamlfile.Doc, path []any, ds *diag.List) (*Contract, bool) {
	path = slices.Clone(path)
	node := doc.At(path...)
	if node == nil {
		ds.Errorf(doc.PosAt(path...), "missing-contract", "write the contract here, or refer to a .odcs.yaml file",
			"there is no contract here")
		return nil, false
	}
	if !checkShape(doc, node, ds) {
		return nil, false
	}
	value := yamlfile.Value(node)
	validate(doc, node, value, ds)
	c := &Contract{Doc: doc, Path: path}
	c.Raw, _ = value.(map[string]any)
	d := decoder{doc: doc, ds: ds, base: len(path)}
	d.contract(c, resolve(node))
	return c, !ds.HasErrors()
}

// Pos returns the position of something inside the contract, at path from the
// contract's own mapping: c.Pos("schema", 0, "name"). A path that does not exist
// gives the position of its nearest existing ancestor.
func (c *Contract) Pos(path ...any) diag.Pos {
	return c.Doc.PosAt(slices.Concat(c.Path, path)...)
}

// maxNodes bounds the size of a contract once YAML aliases are expanded, so that a
// small file cannot make the loader build a huge value ("billion laughs").
const maxNodes = 1 << 18

// checkShape reports duplicate keys (which the generic value would silently drop)
// and rejects documents whose aliases expand beyond maxNodes.
func checkShape(doc *yamlfile.Doc, root *yaml.Node, ds *diag.List) bool {
	count := 0
	reported := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		count++
		if count > maxNodes || depth > 1000 {
			return false
		}
		if n.Kind == yaml.AliasNode {
			if n.Alias == nil {
				return true
			}
			return walk(n.Alias, depth+1)
		}
		if n.Kind == yaml.MappingNode {
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind == yaml.ScalarNode && seen[k.Value] && !reported[k] {
					reported[k] = true
					ds.Errorf(doc.Pos(k), "duplicate-key", "keep one of them", "key %q appears twice", k.Value)
				}
				seen[k.Value] = true
			}
		}
		for _, c := range n.Content {
			if !walk(c, depth+1) {
				return false
			}
		}
		return true
	}
	if !walk(root, 0) {
		ds.Errorf(doc.Pos(root), "too-large", "write the contract out without deeply nested aliases",
			"the contract is too large once its YAML aliases are expanded (more than %d values)", maxNodes)
		return false
	}
	return true
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}
