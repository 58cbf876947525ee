package web

import (
	"context"
	"log/slog"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Item is one published product as the catalog index holds it.
type Item struct {
	Ref         string   `json:"product"`
	Domain      string   `json:"domain"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Owner       string   `json:"owner"`
	Tags        []string `json:"tags"`
	Columns     []string `json:"columns"`
	// Terms are the glossary terms the columns link to, as the contract names them.
	Terms           []string  `json:"terms"`
	Classifications []string  `json:"classifications"`
	Version         string    `json:"version"`
	PublishedAt     time.Time `json:"publishedAt"`
	RowsOut         int64     `json:"rowsOut"`
	Quarantined     int64     `json:"quarantined"`
	Warnings        int       `json:"warnings"`
}

// Query is a catalog search: words that must all appear (as parts of words) in a
// product's name, description, tags, columns or glossary terms, and filters that
// must match exactly. Term matches a glossary term or one of its synonyms.
type Query struct {
	Q, Domain, Tag, Owner, Term, Class string
}

// Empty reports whether the query asks for nothing in particular.
func (q Query) Empty() bool { return q == Query{} }

// Index is an in-memory catalog index. Searching is a few map look-ups and bit
// set intersections, so it stays fast with thousands of products.
type Index struct {
	Items []Item
	Built time.Time

	n        int
	words    []string         // the vocabulary, sorted
	postings map[string]bits_ // word → products containing it
	domain   map[string]bits_
	tag      map[string]bits_
	owner    map[string]bits_
	term     map[string]bits_
	class    map[string]bits_
	// Facets, sorted, for the filter menus.
	Domains, Tags, Owners, TermNames, Classes []string
}

// bits_ is a bit set over the index's items.
type bits_ []uint64

func newBits(n int) bits_ { return make(bits_, (n+63)/64) }

func (b bits_) set(i int) { b[i/64] |= 1 << (uint(i) % 64) }

func (b bits_) and(o bits_) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bits_) or(o bits_) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bits_) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// BuildIndex indexes items. canonical maps a glossary name or synonym to the
// term's name; it may be nil.
func BuildIndex(items []Item, canonical func(string) string) *Index {
	ix := &Index{Items: items, Built: time.Now(), n: len(items), postings: map[string]bits_{},
		domain: map[string]bits_{}, tag: map[string]bits_{}, owner: map[string]bits_{}, term: map[string]bits_{}, class: map[string]bits_{}}
	add := func(m map[string]bits_, key string, i int) {
		if key == "" {
			return
		}
		b, ok := m[key]
		if !ok {
			b = newBits(ix.n)
			m[key] = b
		}
		b.set(i)
	}
	for i, it := range items {
		add(ix.domain, it.Domain, i)
		add(ix.owner, it.Owner, i)
		text := []string{it.Ref, it.Description, it.Owner}
		text = append(text, it.Tags...)
		text = append(text, it.Columns...)
		for _, t := range it.Tags {
			add(ix.tag, strings.ToLower(t), i)
		}
		for _, t := range it.Terms {
			if canonical != nil {
				t = canonical(t)
			}
			add(ix.term, t, i)
			text = append(text, t)
		}
		for _, c := range it.Classifications {
			add(ix.class, strings.ToLower(c), i)
		}
		for _, w := range words(strings.Join(text, " ")) {
			add(ix.postings, w, i)
		}
	}
	keys := func(m map[string]bits_) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	ix.words = keys(ix.postings)
	ix.Domains, ix.Tags, ix.Owners, ix.TermNames, ix.Classes = keys(ix.domain), keys(ix.tag), keys(ix.owner), keys(ix.term), keys(ix.class)
	return ix
}

// words splits text into lower-case words: letters and digits, with "-", "_",
// "/" and spaces as separators, so that "net revenue" finds net_revenue_usd.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// Search returns the items matching q, in index order (sorted by reference), and
// how many match in all; at most limit are returned (0: all).
func (ix *Index) Search(q Query, canonical func(string) string, limit int) ([]Item, int) {
	match := newBits(ix.n)
	for i := range match {
		match[i] = ^uint64(0)
	}
	if r := ix.n % 64; r != 0 && len(match) > 0 {
		match[len(match)-1] = 1<<uint(r) - 1
	}
	filter := func(m map[string]bits_, key string) {
		if key == "" {
			return
		}
		if b, ok := m[key]; ok {
			match.and(b)
		} else {
			clear(match)
		}
	}
	filter(ix.domain, q.Domain)
	filter(ix.owner, q.Owner)
	filter(ix.tag, strings.ToLower(q.Tag))
	filter(ix.class, strings.ToLower(q.Class))
	if q.Term != "" {
		t := q.Term
		if canonical != nil {
			t = canonical(t)
		}
		filter(ix.term, t)
	}
	for _, w := range words(q.Q) {
		// Every word of the vocabulary that contains w counts: the vocabulary is
		// much smaller than the products' text.
		some := newBits(ix.n)
		for _, v := range ix.words {
			if strings.Contains(v, w) {
				some.or(ix.postings[v])
			}
		}
		match.and(some)
	}
	total := match.count()
	var out []Item
	for wi, word := range match {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << uint(b)
			if limit > 0 && len(out) >= limit {
				return out, total
			}
			out = append(out, ix.Items[wi*64+b])
		}
	}
	return out, total
}

// indexer keeps an Index of the store's catalog, rebuilt when older than ttl.
// A stale index is served while a fresh one is built in the background.
type indexer struct {
	store storage.Store
	mesh  *spec.Set
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger

	mu       sync.Mutex
	cur      *Index
	building bool
	lastErr  error
}

// get returns the current index, building it if there is none and starting a
// rebuild if it is stale.
func (x *indexer) get(ctx context.Context) (*Index, error) {
	x.mu.Lock()
	cur := x.cur
	stale := cur == nil || x.now().Sub(cur.Built) > x.ttl
	start := stale && cur != nil && !x.building
	if start {
		x.building = true
	}
	x.mu.Unlock()
	if cur == nil {
		ix, err := x.build(ctx)
		if err != nil {
			return nil, err
		}
		x.mu.Lock()
		x.cur = ix
		x.mu.Unlock()
		return ix, nil
	}
	if start {
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			ix, err := x.build(ctx)
			x.mu.Lock()
			defer x.mu.Unlock()
			x.building = false
			x.lastErr = err
			if err == nil {
				x.cur = ix
			}
		}()
	}
	return cur, nil
}

// build reads the catalog: every latest manifest, and the contract published
// with it for descriptions, tags, glossary terms and classifications.
func (x *indexer) build(ctx context.Context) (*Index, error) {
	entries, err := catalog.List(ctx, x.store)
	if err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(entries))
	for _, e := range entries {
		m := e.Latest
		domain, name, _ := strings.Cut(e.Ref, "/")
		it := Item{Ref: e.Ref, Domain: domain, Name: name, Version: m.Version, PublishedAt: m.PublishedAt,
			RowsOut: m.Quality.RowsOut, Quarantined: m.Quality.Quarantined, Warnings: m.Quality.Warnings}
		for _, c := range m.Columns {
			it.Columns = append(it.Columns, c.Name)
		}
		c, err := catalog.Contract(ctx, x.store, m)
		if err != nil {
			x.log.Warn("web: read the published contract", "product", e.Ref, "version", m.Version, "error", err)
		}
		if c != nil {
			it.Description = c.Description.Purpose
			it.Tags = slices.Clone(c.Tags)
			it.Terms = c.GlossaryTerms()
			c.WalkProperties(func(p *contract.Property) {
				if p.Classification != "" && !slices.Contains(it.Classifications, p.Classification) {
					it.Classifications = append(it.Classifications, p.Classification)
				}
			})
		}
		if x.mesh != nil {
			if p := x.mesh.Product(e.Ref); p != nil {
				it.Owner = p.Metadata.Owner
				if p.Metadata.Description != "" {
					it.Description = p.Metadata.Description
				}
				for _, t := range p.Metadata.Tags {
					if !slices.Contains(it.Tags, t) {
						it.Tags = append(it.Tags, t)
					}
				}
			}
		}
		items = append(items, it)
	}
	return BuildIndex(items, canonicalTerm(x.mesh)), nil
}

// canonicalTerm returns a function that maps a glossary term or synonym to the
// term's name (unknown names map to themselves).
func canonicalTerm(set *spec.Set) func(string) string {
	return func(s string) string {
		if set != nil {
			if t := set.Term(s); t != nil {
				return t.Term
			}
		}
		return s
	}
}
