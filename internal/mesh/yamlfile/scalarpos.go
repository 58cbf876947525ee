package yamlfile

import (
	"strings"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"go.yaml.in/yaml/v3"
)

// ScalarPos maps a position inside the value of a scalar node (line and column count
// from 1 within the value, as CEL and SQL parsers report them) to its position in
// the file. It understands plain and quoted single-line scalars and literal (|) and
// folded (>) block scalars; for other styles it returns the node's own position.
func (d *Doc) ScalarPos(n *yaml.Node, line, col int) diag.Pos {
	if n == nil {
		return diag.Pos{File: d.File}
	}
	base := d.Pos(n)
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The value starts on the line after the indicator, at the block's indentation.
		// Every line keeps its indentation beyond the block's own, which is the
		// indentation of the first content line.
		indent := d.indentOf(n.Line + 1)
		if indent < 0 {
			return base
		}
		return diag.Pos{File: d.File, Line: n.Line + line, Col: indent + col}
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		if line == 1 {
			return base.Shift(0, col) // skip the opening quote
		}
	default:
		if line == 1 {
			return base.Shift(0, col-1)
		}
	}
	// A multi-line flow scalar: continuation lines are indented; point at the line.
	l := n.Line + line - 1
	indent := d.indentOf(l)
	if indent < 0 {
		return base
	}
	return diag.Pos{File: d.File, Line: l, Col: indent + col}
}

// indentOf returns the number of leading spaces of a 1-based line, or -1 when the
// line does not exist.
func (d *Doc) indentOf(line int) int {
	lines := strings.Split(string(d.Source), "\n")
	if line < 1 || line > len(lines) {
		return -1
	}
	l := lines[line-1]
	return len(l) - len(strings.TrimLeft(l, " "))
}
