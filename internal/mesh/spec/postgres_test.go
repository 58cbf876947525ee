package spec

import "testing"

func TestCheckPGQuery(t *testing.T) {
	for q, want := range map[string]string{
		"SELECT 1":                "",
		"  select a, b from t;  ": "",
		"WITH x AS (SELECT 1) SELECT * FROM x;\n-- done": "",
		"(SELECT 1)": "",
		"SELECT ';' AS \"a;b\", $$;$$, $t$ ; $t$": "",
		"/* a /* nested */ ; */ SELECT 1":         "",
		"SELECT 1; SELECT 2":                      "the query holds more than one statement (a ; outside quotes)",
		"SELECT 1;;":                              "the query holds more than one statement (a ; outside quotes)",
		"DELETE FROM t RETURNING *":               "the query is not a SELECT: it starts with DELETE",
		"  ":                                      "the query is empty",
		"SELECT 'open":                            "a quote is not closed",
		"SELECT $x$ open":                         "a $x$ quote is not closed",
		"/* SELECT 1":                             "a /* comment is not closed",
	} {
		got := ""
		if err := CheckPGQuery(q); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CheckPGQuery(%q) = %q, want %q", q, got, want)
		}
	}
}

func TestPostgresFormat(t *testing.T) {
	in := Input{Name: "orders", URI: "postgresql://db/sales", Table: "public.orders"}
	if f := in.DataFormat(); f != "parquet" {
		t.Fatalf("format %q, want parquet", f)
	}
}
