package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
)

// The catalog's JSON API, next to the pages that show the same data:
//
//	GET /api/v1/products?q=&domain=&tag=&owner=&term=&class=&limit=
//	GET /api/v1/products/<domain>/<name>
//
// Both are public metadata, like the catalog pages, except where things are
// stored: for anonymous callers, inputs read from a worker's files are not
// named and store errors are not detailed. Reading the data itself
// (/api/v1/products/<domain>/<name>/data) needs a grant and is served by package
// serve.

type productsJSON struct {
	Total    int    `json:"total"`
	Products []Item `json:"products"`
}

type productJSON struct {
	Product  string           `json:"product"`
	Latest   refresh.Manifest `json:"latest"`
	Versions []string         `json:"versions"`
	Terms    []string         `json:"terms"`
}

type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) productsAPI(w http.ResponseWriter, r *http.Request) {
	v, err := query(r, "q", "domain", "tag", "owner", "term", "class", "limit")
	if err != nil {
		writeAPI(w, http.StatusBadRequest, apiErr{Error: err.Error(), Code: "bad_request"})
		return
	}
	limit := maxResults
	if l := v["limit"]; l != "" {
		var n int
		if err := json.Unmarshal([]byte(l), &n); err != nil || n < 1 || n > 1000 {
			writeAPI(w, http.StatusBadRequest, apiErr{Error: "limit must be a whole number from 1 to 1000", Code: "bad_request"})
			return
		}
		limit = n
	}
	if s.deps.Store == nil {
		writeAPI(w, http.StatusServiceUnavailable, apiErr{Error: "this server has no object store configured", Code: "no_catalog"})
		return
	}
	ix, err := s.index.get(r.Context())
	if err != nil {
		s.log.Error("web: read the catalog", "path", r.URL.Path, "error", err)
		writeAPI(w, http.StatusBadGateway, apiErr{Error: "the catalog could not be read: " + s.detail(r, err), Code: "store"})
		return
	}
	q := Query{Q: v["q"], Domain: v["domain"], Tag: v["tag"], Owner: v["owner"], Term: v["term"], Class: v["class"]}
	items, total := ix.Search(q, canonicalTerm(s.deps.Mesh), limit)
	if items == nil {
		items = []Item{}
	}
	writeAPI(w, http.StatusOK, productsJSON{Total: total, Products: items})
}

func (s *server) productAPI(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("domain") + "/" + r.PathValue("name")
	if s.deps.Store == nil {
		writeAPI(w, http.StatusServiceUnavailable, apiErr{Error: "this server has no object store configured", Code: "no_catalog"})
		return
	}
	e, err := catalog.Show(r.Context(), s.deps.Store, ref)
	if err != nil {
		_, found, lerr := catalog.ReadLatest(r.Context(), s.deps.Store, ref)
		if lerr == nil && !found {
			writeAPI(w, http.StatusNotFound, apiErr{Error: ref + " has no published version", Code: "unknown_product"})
			return
		}
		err = errors.Join(err, lerr)
		s.log.Error("web: read the catalog", "path", r.URL.Path, "error", err)
		writeAPI(w, http.StatusBadGateway, apiErr{Error: "the catalog could not be read: " + s.detail(r, err), Code: "store"})
		return
	}
	terms, err := catalog.Terms(r.Context(), s.deps.Store, e.Latest)
	if err != nil {
		terms = nil // the contract is optional for the catalog entry
	}
	if terms == nil {
		terms = []string{}
	}
	latest := e.Latest
	if who, _ := s.principal(r); who == "" {
		latest.Inputs = slices.Clone(latest.Inputs)
		for i, in := range latest.Inputs {
			if in.SourceVersion == "" && localURI(in.Source) {
				latest.Inputs[i].Source = ""
			}
		}
	}
	writeAPI(w, http.StatusOK, productJSON{Product: e.Ref, Latest: latest, Versions: e.Versions, Terms: terms})
}
