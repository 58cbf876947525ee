package diag

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestWriteTextShowsLineAndCaret(t *testing.T) {
	src := &FileSources{}
	src.Set("spec.yaml", []byte("metadata:\n\tdomain: salez\n"))
	var l List
	l.Warnf(Pos{File: "spec.yaml", Line: 1}, "w", "", "second")
	l.Errorf(Pos{File: "spec.yaml", Line: 2, Col: 10}, "unknown-domain", `did you mean "sales"?`, "unknown domain %q", "salez")
	l.Errorf(Pos{File: "spec.yaml", Line: 2, Col: 10}, "unknown-domain", `did you mean "sales"?`, "unknown domain %q", "salez")
	var b bytes.Buffer
	if err := WriteText(&b, l.Items(), src); err != nil {
		t.Fatal(err)
	}
	want := "spec.yaml:1: warning: second\n" +
		"    1 | metadata:\n" +
		"spec.yaml:2:10: error: unknown domain \"salez\"\n" +
		"    2 |     domain: salez\n" +
		"      |             ^\n" +
		"      = help: did you mean \"sales\"?\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if !l.HasErrors() || l.Err() == nil {
		t.Error("list with an error must report it")
	}
}

func TestWriteJSON(t *testing.T) {
	src := &FileSources{}
	src.Set("m.yaml", []byte("a: 1\n"))
	var l List
	l.Errorf(Pos{File: "m.yaml", Line: 1, Col: 4}, "c", "h", "bad")
	var b bytes.Buffer
	if err := WriteJSON(&b, l.Items(), src); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		OK          bool
		Errors      int
		Diagnostics []map[string]any
	}
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	d := rep.Diagnostics[0]
	if rep.OK || rep.Errors != 1 || d["file"] != "m.yaml" || d["line"] != 1.0 || d["column"] != 4.0 || d["severity"] != "error" || d["source"] != "a: 1" {
		t.Errorf("got %s", b.String())
	}
}
