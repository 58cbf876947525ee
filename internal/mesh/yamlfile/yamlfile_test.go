package yamlfile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

func TestScalarPos(t *testing.T) {
	src := "plain: a > b\nquoted: \"a > b\"\nblock: |\n  first\n    second x\nfolded: >-\n  one\n"
	ds := &diag.List{}
	doc, ok := Parse("f.yaml", []byte(src), ds)
	if !ok {
		t.Fatal(ds.Err())
	}
	cases := []struct {
		key       string
		line, col int
		want      string
	}{
		{"plain", 1, 3, "f.yaml:1:10"},
		{"quoted", 1, 3, "f.yaml:2:12"},
		{"block", 1, 1, "f.yaml:4:3"},
		{"block", 2, 10, "f.yaml:5:12"}, // the x of "  second x"
		{"folded", 1, 2, "f.yaml:7:4"},
	}
	for _, c := range cases {
		if got := doc.ScalarPos(doc.At(c.key), c.line, c.col).String(); got != c.want {
			t.Errorf("%s %d:%d: got %s, want %s", c.key, c.line, c.col, got, c.want)
		}
	}
}

type sample struct {
	Name    string            `yaml:"name" required:"true"`
	Count   int               `yaml:"count"`
	Ratio   float64           `yaml:"ratio"`
	On      bool              `yaml:"on"`
	Wait    time.Duration     `yaml:"wait"`
	Tags    []string          `yaml:"tags"`
	Labels  map[string]string `yaml:"labels"`
	Nested  *sample           `yaml:"nested"`
	Anyhing any               `yaml:"any"`
}

func TestDecodeReportsEveryProblem(t *testing.T) {
	src := "nam: x\ncount: many\nratio: [1]\non: yes please\nwait: soon\ntags: {a: b}\nlabels: [x]\nnested: {name: ok, count: 2, extra: 1}\nany: {deep: [1, 2]}\ncount: 3\n"
	ds := &diag.List{}
	doc, _ := Parse("f.yaml", []byte(src), ds)
	var s sample
	Decode(doc, doc.Root, &s, ds)
	var got []string
	for _, d := range ds.Items() {
		got = append(got, fmt.Sprintf("%s %s: %s", d.Pos, d.Code, d.Message))
	}
	want := `f.yaml:1:1 missing-key: missing required key "name"
f.yaml:1:1 unknown-key: unknown key "nam"
f.yaml:2:8 wrong-type: expected a whole number for "count", found "many"
f.yaml:3:8 wrong-type: expected a number for "ratio", found a list
f.yaml:4:5 wrong-type: expected true or false for "on", found "yes please"
f.yaml:5:7 bad-duration: "soon" is not a duration
f.yaml:6:7 wrong-type: expected a list for "tags", found a mapping
f.yaml:7:9 wrong-type: expected a mapping for "labels", found a list
f.yaml:8:30 unknown-key: unknown key "extra"
f.yaml:10:1 duplicate-key: key "count" appears twice`
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("got:\n%s\nwant:\n%s", g, want)
	}
	if s.Nested == nil || s.Nested.Name != "ok" || s.Nested.Count != 2 {
		t.Errorf("nested not decoded: %+v", s.Nested)
	}
	if m, ok := s.Anyhing.(map[string]any); !ok || len(m["deep"].([]any)) != 2 {
		t.Errorf("any not decoded: %#v", s.Anyhing)
	}
}

func TestParseRejectsEmptyAndMultiDocument(t *testing.T) {
	for src, code := range map[string]string{"": "empty-file", "a: 1\n---\nb: 2\n": "multiple-documents", "a: [1\n": "yaml-syntax"} {
		ds := &diag.List{}
		if _, ok := Parse("f.yaml", []byte(src), ds); ok || ds.Len() != 1 || ds.Items()[0].Code != code {
			t.Errorf("%q: got %v, want %s", src, ds.Items(), code)
		}
	}
}

func TestClosest(t *testing.T) {
	if got := Closest("stewrds", []string{"stewards", "owners"}); got != "stewards" {
		t.Errorf("got %q", got)
	}
	if got := Closest("zzz", []string{"stewards", "owners"}); got != "" {
		t.Errorf("got %q, want no suggestion", got)
	}
}
