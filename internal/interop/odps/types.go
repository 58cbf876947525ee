package odps

// The ODPS v1.0.0 document, as far as meshflow fills it. The JSON and YAML
// field names are those of the standard; fields meshflow never fills are left
// out.

// APIVersion is the version of the standard the documents follow.
const APIVersion = "v1.0.0"

// Kind is the kind of every document.
const Kind = "DataProduct"

// Product is an ODPS document: one data product.
type Product struct {
	APIVersion               string                    `json:"apiVersion" yaml:"apiVersion"`
	Kind                     string                    `json:"kind" yaml:"kind"`
	ID                       string                    `json:"id" yaml:"id"`
	Name                     string                    `json:"name,omitempty" yaml:"name,omitempty"`
	Version                  string                    `json:"version,omitempty" yaml:"version,omitempty"`
	Status                   string                    `json:"status" yaml:"status"`
	Domain                   string                    `json:"domain,omitempty" yaml:"domain,omitempty"`
	Tenant                   string                    `json:"tenant,omitempty" yaml:"tenant,omitempty"`
	Description              *Description              `json:"description,omitempty" yaml:"description,omitempty"`
	Tags                     []string                  `json:"tags,omitempty" yaml:"tags,omitempty"`
	AuthoritativeDefinitions []AuthoritativeDefinition `json:"authoritativeDefinitions,omitempty" yaml:"authoritativeDefinitions,omitempty"`
	InputPorts               []InputPort               `json:"inputPorts,omitempty" yaml:"inputPorts,omitempty"`
	OutputPorts              []OutputPort              `json:"outputPorts,omitempty" yaml:"outputPorts,omitempty"`
	ManagementPorts          []ManagementPort          `json:"managementPorts,omitempty" yaml:"managementPorts,omitempty"`
	Support                  []Support                 `json:"support,omitempty" yaml:"support,omitempty"`
	Team                     *Team                     `json:"team,omitempty" yaml:"team,omitempty"`
	ProductCreatedTs         string                    `json:"productCreatedTs,omitempty" yaml:"productCreatedTs,omitempty"`
	CustomProperties         []CustomProperty          `json:"customProperties,omitempty" yaml:"customProperties,omitempty"`
}

// Description says what the data is for.
type Description struct {
	Purpose     string `json:"purpose,omitempty" yaml:"purpose,omitempty"`
	Usage       string `json:"usage,omitempty" yaml:"usage,omitempty"`
	Limitations string `json:"limitations,omitempty" yaml:"limitations,omitempty"`
}

// CustomProperty is a key and value the standard does not name.
type CustomProperty struct {
	Property    string `json:"property" yaml:"property"`
	Value       any    `json:"value" yaml:"value"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// AuthoritativeDefinition links to a source that says more.
type AuthoritativeDefinition struct {
	Type        string `json:"type" yaml:"type"`
	URL         string `json:"url" yaml:"url"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// InputPort is a product this one reads, by the contract it was read under.
type InputPort struct {
	Name             string           `json:"name" yaml:"name"`
	Version          string           `json:"version" yaml:"version"`
	ContractID       string           `json:"contractId" yaml:"contractId"`
	CustomProperties []CustomProperty `json:"customProperties,omitempty" yaml:"customProperties,omitempty"`
}

// OutputPort is what the product publishes, under its contract.
type OutputPort struct {
	Name             string           `json:"name" yaml:"name"`
	Description      string           `json:"description,omitempty" yaml:"description,omitempty"`
	Type             string           `json:"type,omitempty" yaml:"type,omitempty"`
	Version          string           `json:"version" yaml:"version"`
	ContractID       string           `json:"contractId,omitempty" yaml:"contractId,omitempty"`
	InputContracts   []InputContract  `json:"inputContracts,omitempty" yaml:"inputContracts,omitempty"`
	Tags             []string         `json:"tags,omitempty" yaml:"tags,omitempty"`
	CustomProperties []CustomProperty `json:"customProperties,omitempty" yaml:"customProperties,omitempty"`
}

// InputContract is a contract an output port depends on.
type InputContract struct {
	ID      string `json:"id" yaml:"id"`
	Version string `json:"version" yaml:"version"`
}

// ManagementPort is an access point for managing or observing the product.
type ManagementPort struct {
	Name        string `json:"name" yaml:"name"`
	Content     string `json:"content" yaml:"content"`
	Type        string `json:"type,omitempty" yaml:"type,omitempty"`
	URL         string `json:"url,omitempty" yaml:"url,omitempty"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Support is a channel where consumers get help.
type Support struct {
	Channel       string `json:"channel" yaml:"channel"`
	URL           string `json:"url" yaml:"url"`
	Description   string `json:"description,omitempty" yaml:"description,omitempty"`
	Tool          string `json:"tool,omitempty" yaml:"tool,omitempty"`
	Scope         string `json:"scope,omitempty" yaml:"scope,omitempty"`
	InvitationURL string `json:"invitationUrl,omitempty" yaml:"invitationUrl,omitempty"`
}

// Team is the people who own and steward the product.
type Team struct {
	Name        string       `json:"name,omitempty" yaml:"name,omitempty"`
	Description string       `json:"description,omitempty" yaml:"description,omitempty"`
	Members     []TeamMember `json:"members,omitempty" yaml:"members,omitempty"`
	Tags        []string     `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// TeamMember is one person of the team.
type TeamMember struct {
	Username           string           `json:"username" yaml:"username"`
	Name               string           `json:"name,omitempty" yaml:"name,omitempty"`
	Description        string           `json:"description,omitempty" yaml:"description,omitempty"`
	Role               string           `json:"role,omitempty" yaml:"role,omitempty"`
	DateIn             string           `json:"dateIn,omitempty" yaml:"dateIn,omitempty"`
	DateOut            string           `json:"dateOut,omitempty" yaml:"dateOut,omitempty"`
	ReplacedByUsername string           `json:"replacedByUsername,omitempty" yaml:"replacedByUsername,omitempty"`
	Tags               []string         `json:"tags,omitempty" yaml:"tags,omitempty"`
	CustomProperties   []CustomProperty `json:"customProperties,omitempty" yaml:"customProperties,omitempty"`
}
