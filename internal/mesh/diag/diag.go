package diag

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Severity says whether a diagnostic blocks (Error) or only informs (Warning, Info).
type Severity int

// The severities, from most to least serious.
const (
	Error Severity = iota
	Warning
	Info
)

// String returns the lower-case name used in text and JSON output.
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	default:
		return "info"
	}
}

// MarshalJSON encodes the severity by name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Pos is a place in a source file. Line and Col count from 1; zero means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

// String formats the position as file:line:column, leaving out what is unknown.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Shift returns the position moved by the given number of lines and columns. It is
// used to place an error found inside an embedded expression (a CEL rule, a SQL
// statement) at its place in the enclosing file.
func (p Pos) Shift(lines, cols int) Pos {
	p.Line += lines
	p.Col += cols
	return p
}

// Diagnostic is one problem found in a file.
type Diagnostic struct {
	Pos
	Severity Severity `json:"severity"`
	// Code is a short stable identifier of the kind of problem, such as
	// "unknown-key" or "cel-type"; tests and tools match on it.
	Code string `json:"code"`
	// Message says what is wrong, in one sentence.
	Message string `json:"message"`
	// Hint says what to do about it, when there is something useful to say.
	Hint string `json:"hint,omitempty"`
}

// Error makes a Diagnostic usable as an error.
func (d Diagnostic) Error() string {
	s := fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Message)
	if d.Hint != "" {
		s += " (" + d.Hint + ")"
	}
	return s
}

// List collects diagnostics. The zero value is ready to use.
type List struct {
	items []Diagnostic
}

// Add appends a diagnostic.
func (l *List) Add(d Diagnostic) { l.items = append(l.items, d) }

// Errorf appends an error-severity diagnostic with the given code and message.
func (l *List) Errorf(pos Pos, code, hint, format string, args ...any) {
	l.Add(Diagnostic{Pos: pos, Severity: Error, Code: code, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// Warnf appends a warning-severity diagnostic.
func (l *List) Warnf(pos Pos, code, hint, format string, args ...any) {
	l.Add(Diagnostic{Pos: pos, Severity: Warning, Code: code, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// Infof appends an informational diagnostic.
func (l *List) Infof(pos Pos, code, hint, format string, args ...any) {
	l.Add(Diagnostic{Pos: pos, Severity: Info, Code: code, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// Append adds all diagnostics of another list.
func (l *List) Append(o *List) {
	if o != nil {
		l.items = append(l.items, o.items...)
	}
}

// Len reports how many diagnostics the list holds.
func (l *List) Len() int { return len(l.items) }

// HasErrors reports whether any diagnostic has Error severity.
func (l *List) HasErrors() bool {
	for _, d := range l.items {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Items returns the diagnostics sorted by file, line, column, severity and message,
// with exact duplicates removed.
func (l *List) Items() []Diagnostic {
	out := slices.Clone(l.items)
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Severity, b.Severity),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(out)
}

// Err returns the list as an error when it holds at least one Error-severity
// diagnostic, and nil otherwise.
func (l *List) Err() error {
	if !l.HasErrors() {
		return nil
	}
	return &ListError{Items: l.Items()}
}

// ListError is the error form of a list of diagnostics.
type ListError struct{ Items []Diagnostic }

// Error renders the diagnostics one per line, without source excerpts.
func (e *ListError) Error() string {
	var b strings.Builder
	for i, d := range e.Items {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// Sources gives the text of a line of a file, for source excerpts. A nil Sources
// reads files from disk.
type Sources interface {
	Line(file string, line int) (string, bool)
}

// FileSources reads and caches files from disk; in-memory files can be added with Set.
type FileSources struct {
	files map[string][]string
}

// Set registers the content of a file that is not (or not yet) on disk.
func (s *FileSources) Set(file string, content []byte) {
	if s.files == nil {
		s.files = map[string][]string{}
	}
	s.files[file] = strings.Split(string(content), "\n")
}

// Line returns the given 1-based line of the file.
func (s *FileSources) Line(file string, line int) (string, bool) {
	if s.files == nil {
		s.files = map[string][]string{}
	}
	lines, ok := s.files[file]
	if !ok {
		b, err := os.ReadFile(file)
		if err != nil {
			s.files[file] = nil
			return "", false
		}
		lines = strings.Split(string(b), "\n")
		s.files[file] = lines
	}
	if line < 1 || line > len(lines) {
		return "", false
	}
	return strings.TrimRight(lines[line-1], "\r"), true
}

// WriteText renders diagnostics for people: the position, severity and message, the
// offending source line with a caret under the column, and the hint.
func WriteText(w io.Writer, items []Diagnostic, src Sources) error {
	if src == nil {
		src = &FileSources{}
	}
	for _, d := range items {
		if _, err := fmt.Fprintf(w, "%s: %s: %s\n", d.Pos, d.Severity, d.Message); err != nil {
			return err
		}
		if line, ok := src.Line(d.File, d.Line); ok && d.Line > 0 {
			gutter := fmt.Sprintf("%5d | ", d.Line)
			fmt.Fprintf(w, "%s%s\n", gutter, expandTabs(line))
			if d.Col > 0 {
				fmt.Fprintf(w, "%s|%s^\n", strings.Repeat(" ", len(gutter)-2), caretPad(line, d.Col))
			}
		}
		if d.Hint != "" {
			fmt.Fprintf(w, "      = help: %s\n", d.Hint)
		}
	}
	return nil
}

// caretPad returns the spaces that put a caret under the given 1-based column,
// counting runes and expanding tabs as expandTabs does.
func caretPad(line string, col int) string {
	n := 0
	i := 0
	for _, r := range line {
		i++
		if i >= col {
			break
		}
		if r == '\t' {
			n += 4
		} else {
			n++
		}
	}
	if i < col-1 { // the column is past the end of the line
		n += col - 1 - i
	}
	return " " + strings.Repeat(" ", n)
}

func expandTabs(s string) string { return strings.ReplaceAll(s, "\t", "    ") }

// JSONReport is the machine-readable form of a validation run.
type JSONReport struct {
	OK          bool         `json:"ok"`
	Errors      int          `json:"errors"`
	Warnings    int          `json:"warnings"`
	Diagnostics []JSONRecord `json:"diagnostics"`
}

// JSONRecord is one diagnostic with its source line.
type JSONRecord struct {
	Diagnostic
	Source string `json:"source,omitempty"`
}

// WriteJSON renders diagnostics as one JSON document.
func WriteJSON(w io.Writer, items []Diagnostic, src Sources) error {
	if src == nil {
		src = &FileSources{}
	}
	rep := JSONReport{Diagnostics: []JSONRecord{}}
	for _, d := range items {
		switch d.Severity {
		case Error:
			rep.Errors++
		case Warning:
			rep.Warnings++
		}
		line, _ := src.Line(d.File, d.Line)
		rep.Diagnostics = append(rep.Diagnostics, JSONRecord{Diagnostic: d, Source: line})
	}
	rep.OK = rep.Errors == 0
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
