package impact

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
)

var airportsV1 = []refresh.Column{
	{Name: "code", Type: "VARCHAR"}, {Name: "city", Type: "VARCHAR"}, {Name: "elevation ft", Type: "BIGINT"}, {Name: "lat", Type: "DOUBLE"},
}

func consumerOf(ref, sql string, inputs ...refresh.Input) refresh.Product {
	domain, name, _ := strings.Cut(ref, "/")
	return refresh.Product{Domain: domain, Name: name, SQL: sql,
		Inputs: append([]refresh.Input{{Name: "airports", Product: "aviation/airports"}}, inputs...)}
}

// films knows the columns of the consumers' other input, film/films.
func films(_ context.Context, in refresh.Input) ([]refresh.Column, bool, error) {
	if in.Product == "film/films" {
		return []refresh.Column{{Name: "title", Type: "VARCHAR"}, {Name: "airport code", Type: "VARCHAR"}}, true, nil
	}
	return nil, false, nil
}

func analyze(t *testing.T, newCols []refresh.Column, consumers ...refresh.Product) *refresh.Impact {
	t.Helper()
	im, err := Analyze(t.Context(), t.TempDir(), Change{Product: "aviation/airports", Old: airportsV1, New: newCols}, consumers, films)
	if err != nil {
		t.Fatal(err)
	}
	if im == nil {
		t.Fatal("no impact for a changed schema")
	}
	if len(im.Consumers) != len(consumers) {
		t.Fatalf("%d consumers checked, want %d", len(im.Consumers), len(consumers))
	}
	return im
}

func without(cols []refresh.Column, name string) []refresh.Column {
	return slices.DeleteFunc(slices.Clone(cols), func(c refresh.Column) bool { return c.Name == name })
}

// TestRemovedColumnBreaksTheConsumerThatReadsIt removes city: the consumer
// whose one output column reads it no longer binds, and the lineage names that
// output column alone; the consumer that reads other columns still binds.
func TestRemovedColumnBreaksTheConsumerThatReadsIt(t *testing.T) {
	cities := consumerOf("film/airport-cities", `
		SELECT f.title, a.code, upper(a.city) AS city_name, a.lat
		FROM films f JOIN airports a ON a.code = f."airport code"`,
		refresh.Input{Name: "films", Product: "film/films"})
	heights := consumerOf("film/airport-heights", `SELECT code, "elevation ft" * 0.3048 AS elevation_m FROM airports`)
	im := analyze(t, without(airportsV1, "city"), cities, heights)

	if want := []refresh.ChangedColumn{{Name: "city", Change: refresh.ColumnRemoved, Type: "VARCHAR"}}; !slices.Equal(im.Changed, want) {
		t.Fatalf("changed %+v, want %+v", im.Changed, want)
	}
	c := im.Consumers[0]
	if !c.Checked || c.Binds || !strings.Contains(c.Error, `"city"`) {
		t.Fatalf("airport-cities: %+v; want checked, not binding, with DuckDB's error naming city", c)
	}
	if want := []refresh.OutputImpact{{Column: "city_name", Reads: []string{"city"}}}; !slices.EqualFunc(c.Outputs, want, outputEqual) {
		t.Errorf("airport-cities outputs %+v, want %+v", c.Outputs, want)
	}
	if want := "film/airport-cities will fail: its SQL reads `city`, removed here"; c.Summary != want {
		t.Errorf("summary %q, want %q", c.Summary, want)
	}
	h := im.Consumers[1]
	if !h.Checked || !h.Binds || len(h.Reads) != 0 || len(h.Outputs) != 0 || h.Error != "" {
		t.Errorf("airport-heights does not read city: %+v", h)
	}
	if got := im.BreaksConsumers(); !slices.Equal(got, []string{"film/airport-cities"}) {
		t.Errorf("breaks %v, want only film/airport-cities", got)
	}
}

// TestFilterColumnCountsForEveryOutput removes lat, which only a WHERE clause
// reads: it decides every output row, so every output column reads it.
func TestFilterColumnCountsForEveryOutput(t *testing.T) {
	north := consumerOf("film/northern", `SELECT code, city FROM airports WHERE lat > 50`)
	c := analyze(t, without(airportsV1, "lat"), north).Consumers[0]
	want := []refresh.OutputImpact{{Column: "code", Reads: []string{"lat"}}, {Column: "city", Reads: []string{"lat"}}}
	if c.Binds || !slices.EqualFunc(c.Outputs, want, outputEqual) {
		t.Errorf("northern: %+v; want it broken, with both outputs reading lat", c)
	}
}

// TestRetypedColumnWithSpaces retypes "elevation ft" from BIGINT to VARCHAR:
// arithmetic on it no longer binds; a consumer that only passes it on still
// binds, and its lineage says which output column carries the new type.
func TestRetypedColumnWithSpaces(t *testing.T) {
	retyped := slices.Clone(airportsV1)
	retyped[2].Type = "VARCHAR"
	math := consumerOf("film/heights", `SELECT code, "elevation ft" + 1 AS "height plus one" FROM airports`)
	pass := consumerOf("film/listing", `SELECT code AS "airport code", "elevation ft" AS "elevation (ft)" FROM airports`)
	im := analyze(t, retyped, math, pass)
	if want := (refresh.ChangedColumn{Name: "elevation ft", Change: refresh.ColumnRetyped, Type: "BIGINT", NewType: "VARCHAR"}); len(im.Changed) != 1 || im.Changed[0] != want {
		t.Fatalf("changed %+v, want %+v", im.Changed, want)
	}
	m := im.Consumers[0]
	if m.Binds || m.Error == "" || !slices.Equal(m.Reads, []string{"elevation ft"}) ||
		!slices.EqualFunc(m.Outputs, []refresh.OutputImpact{{Column: "height plus one", Reads: []string{"elevation ft"}}}, outputEqual) {
		t.Errorf("heights: %+v; want it broken, its output height plus one reading elevation ft", m)
	}
	if !strings.Contains(m.Summary, "retyped here from BIGINT to VARCHAR") {
		t.Errorf("heights summary %q does not say how the column changed", m.Summary)
	}
	p := im.Consumers[1]
	if !p.Binds || !slices.EqualFunc(p.Outputs, []refresh.OutputImpact{{Column: "elevation (ft)", Reads: []string{"elevation ft"}}}, outputEqual) {
		t.Errorf("listing: %+v; want it binding, its output elevation (ft) reading elevation ft", p)
	}
	if want := "film/listing still binds, but its output columns `elevation (ft)` read `elevation ft`, retyped here from BIGINT to VARCHAR"; p.Summary != want {
		t.Errorf("listing summary %q, want %q", p.Summary, want)
	}
	if got := im.BreaksConsumers(); !slices.Equal(got, []string{"film/heights"}) {
		t.Errorf("breaks %v, want only film/heights", got)
	}
}

// TestStarAndCTE reads the product through SELECT * in a CTE named once:
// every output column that comes from the removed one reads it, and only that.
func TestStarAndCTE(t *testing.T) {
	all := consumerOf("film/all-airports", `WITH a AS (SELECT * FROM airports) SELECT *, 1 AS one FROM a`)
	c := analyze(t, without(airportsV1, "code"), all).Consumers[0]
	if !c.Binds || !slices.EqualFunc(c.Outputs, []refresh.OutputImpact{{Column: "code", Reads: []string{"code"}}}, outputEqual) {
		t.Errorf("all-airports: %+v; want it binding (the star reads what there is), output code reading code", c)
	}
}

// TestUnknownInputIsNotChecked: a consumer with an input whose columns are
// not known before its run is reported as not checked, and breaks nothing.
func TestUnknownInputIsNotChecked(t *testing.T) {
	c := consumerOf("film/raw", `SELECT city FROM airports JOIN raw USING (code)`, refresh.Input{Name: "raw", URI: "s3://bucket/raw/"})
	im := analyze(t, without(airportsV1, "city"), c)
	if ci := im.Consumers[0]; ci.Checked || !strings.Contains(ci.Summary, "input raw") || len(im.BreaksConsumers()) != 0 {
		t.Errorf("raw: %+v", ci)
	}
}

// TestChanged tells removals, renames and retypes apart and ignores additions.
func TestChanged(t *testing.T) {
	renamed := slices.Clone(airportsV1)
	renamed[1].Name = "town"
	if got, want := Changed(airportsV1, renamed), []refresh.ChangedColumn{{Name: "city", Change: refresh.ColumnRenamed, Type: "VARCHAR", NewName: "town"}}; !slices.Equal(got, want) {
		t.Errorf("rename: %+v, want %+v", got, want)
	}
	added := append(slices.Clone(airportsV1), refresh.Column{Name: "country", Type: "VARCHAR"})
	if got := Changed(airportsV1, added); len(got) != 0 {
		t.Errorf("an added column changes %+v", got)
	}
	if im, err := Analyze(context.Background(), t.TempDir(), Change{Product: "aviation/airports", Old: airportsV1, New: added}, nil, films); err != nil || im != nil {
		t.Errorf("an added column has impact %+v, %v", im, err)
	}
}

func outputEqual(a, b refresh.OutputImpact) bool {
	return a.Column == b.Column && slices.Equal(a.Reads, b.Reads)
}
