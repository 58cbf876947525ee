package web

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// synthetic makes n catalog items over 12 domains, with tags, columns, glossary
// terms and classifications drawn deterministically.
func synthetic(n int) []Item {
	domains := []string{"sales-china", "sales-emea", "sales-us", "finance", "supply-chain", "marketing", "hr", "legal", "risk", "ops", "web", "crm"}
	tags := []string{"kpi", "board", "iot", "daily", "pii", "gold", "silver", "raw", "realtime", "archive"}
	terms := []string{"net-revenue", "units-sold", "fx-rate", "business-day", "delivery-delay", "cold-chain-temperature", "customer-id", "margin"}
	classes := []string{"public", "internal", "confidential", "pii"}
	items := make([]Item, n)
	for i := range items {
		d := domains[i%len(domains)]
		name := fmt.Sprintf("product-%04d", i)
		items[i] = Item{Ref: d + "/" + name, Domain: d, Name: name, Owner: d + "-data",
			Description:     fmt.Sprintf("Synthetic product %d of the %s domain: daily aggregates number %d for dashboards.", i, d, i%97),
			Tags:            []string{tags[i%len(tags)], tags[(i/3)%len(tags)]},
			Columns:         []string{"day", "region", fmt.Sprintf("metric_%d", i%50), "amount_usd", "customer_email"},
			Terms:           []string{terms[i%len(terms)], terms[(i/5)%len(terms)]},
			Classifications: []string{classes[i%len(classes)]}, Version: "1.0.0"}
	}
	slices.SortFunc(items, func(a, b Item) int {
		if a.Ref < b.Ref {
			return -1
		}
		return 1
	})
	return items
}

var synonyms = func(s string) string {
	if s == "net-sales" {
		return "net-revenue"
	}
	return s
}

var benchQueries = []Query{
	{Q: "net revenue"},
	{Q: "daily aggregates"},
	{Q: "metric_7"},
	{Domain: "finance", Tag: "kpi"},
	{Term: "net-sales"},
	{Q: "dashboards", Class: "pii", Owner: "sales-emea-data"},
	{Q: "product 1999"},
	{},
}

func TestSearchSynthetic(t *testing.T) {
	items := synthetic(2000)
	start := time.Now()
	ix := BuildIndex(items, synonyms)
	t.Logf("built an index of %d products in %s (%d words)", len(items), time.Since(start), len(ix.words))

	// Every query answers what a linear scan answers.
	for _, q := range benchQueries {
		got, total := ix.Search(q, synonyms, 0)
		if total != len(got) {
			t.Errorf("%+v: total %d, returned %d", q, total, len(got))
		}
		var want []string
		for _, it := range items {
			if linearMatch(it, q) {
				want = append(want, it.Ref)
			}
		}
		var refs []string
		for _, it := range got {
			refs = append(refs, it.Ref)
		}
		if !slices.Equal(refs, want) {
			t.Errorf("%+v: %d results, a scan finds %d", q, len(refs), len(want))
		}
	}
	if got, _ := ix.Search(Query{Term: "net-sales"}, synonyms, 0); len(got) == 0 {
		t.Errorf("a synonym of a glossary term finds nothing")
	}
	if got, total := ix.Search(Query{}, synonyms, 50); len(got) != 50 || total != 2000 {
		t.Errorf("limit: got %d of %d", len(got), total)
	}

	const rounds = 200
	start = time.Now()
	for range rounds {
		for _, q := range benchQueries {
			ix.Search(q, synonyms, maxResults)
		}
	}
	per := time.Since(start) / time.Duration(rounds*len(benchQueries))
	t.Logf("search over %d products: %s per query (mean of %d queries)", len(items), per, rounds*len(benchQueries))
	fmt.Printf("web: catalog search over %d products takes %s per query\n", len(items), per)
	// Sub-millisecond on an idle laptop; the bound leaves room for a busy CI machine.
	if per > 5*time.Millisecond {
		t.Errorf("search takes %s per query over %d products, want well under 5ms", per, len(items))
	}
}

// linearMatch is the specification of Search, as a scan.
func linearMatch(it Item, q Query) bool {
	if q.Domain != "" && it.Domain != q.Domain || q.Owner != "" && it.Owner != q.Owner ||
		q.Tag != "" && !slices.Contains(it.Tags, q.Tag) || q.Class != "" && !slices.Contains(it.Classifications, q.Class) {
		return false
	}
	if q.Term != "" {
		found := false
		for _, t := range it.Terms {
			found = found || synonyms(t) == synonyms(q.Term)
		}
		if !found {
			return false
		}
	}
	text := append([]string{it.Ref, it.Description, it.Owner}, it.Tags...)
	text = append(text, it.Columns...)
	text = append(text, it.Terms...)
	var vocab []string
	for _, s := range text {
		vocab = append(vocab, words(s)...)
	}
	for _, w := range words(q.Q) {
		if !slices.ContainsFunc(vocab, func(v string) bool { return contains(v, w) }) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func BenchmarkSearch2000(b *testing.B) {
	ix := BuildIndex(synthetic(2000), synonyms)
	for i := 0; b.Loop(); i++ {
		ix.Search(benchQueries[i%len(benchQueries)], synonyms, maxResults)
	}
}
