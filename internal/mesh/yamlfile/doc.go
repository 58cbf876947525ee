// Package yamlfile parses the YAML files of a mesh and decodes them strictly into Go
// structs: unknown keys, wrong types and missing required keys all become positioned
// diagnostics, every one of them collected, and the node tree stays available so that
// later checks can point at the exact line and column of any value.
package yamlfile
