package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/interop/odps"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
)

// The catalog's JSON API, next to the pages that show the same data:
//
//	GET /api/v1/products?q=&domain=&tag=&owner=&term=&class=&limit=
//	GET /api/v1/products/<domain>/<name>
//	GET /api/v1/products/<domain>/<name>/odps
//
// The last describes the product as an Open Data Product Standard v1.0.0
// document (package odps), whose management ports point at this server
// (Deps.PublicURL, else the address the request came to). All are public
// metadata, like the catalog pages, except where things are stored: for
// anonymous callers, inputs read from a worker's files are not named, the data's
// location is left out and store errors are not detailed. Reading the data itself
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

func (s *server) productsAPI(w http.ResponseWriter, r *http.Request) {
	v, err := query(r, "q", "domain", "tag", "owner", "term", "class", "limit")
	if err != nil {
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, err.Error())
		return
	}
	limit := maxResults
	if l := v["limit"]; l != "" {
		var n int
		if err := json.Unmarshal([]byte(l), &n); err != nil || n < 1 || n > 1000 {
			api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, "limit must be a whole number from 1 to 1000")
			return
		}
		limit = n
	}
	if s.deps.Store == nil {
		api.Fail(w, http.StatusServiceUnavailable, "no_catalog", "this server has no object store configured")
		return
	}
	ix, err := s.index.get(r.Context())
	if err != nil {
		s.log.Error("web: read the catalog", "path", r.URL.Path, "error", err)
		api.Fail(w, http.StatusBadGateway, "store", "the catalog could not be read: "+s.detail(r, err))
		return
	}
	q := Query{Q: v["q"], Domain: v["domain"], Tag: v["tag"], Owner: v["owner"], Term: v["term"], Class: v["class"]}
	items, total := ix.Search(q, canonicalTerm(s.deps.Mesh), limit)
	if items == nil {
		items = []Item{}
	}
	api.WriteJSON(w, http.StatusOK, productsJSON{Total: total, Products: items})
}

func (s *server) productAPI(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("domain") + "/" + r.PathValue("name")
	if s.deps.Store == nil {
		api.Fail(w, http.StatusServiceUnavailable, "no_catalog", "this server has no object store configured")
		return
	}
	e, err := catalog.Show(r.Context(), s.deps.Store, ref)
	if err != nil {
		_, found, lerr := catalog.ReadLatest(r.Context(), s.deps.Store, ref)
		if lerr == nil && !found {
			api.Fail(w, http.StatusNotFound, "unknown_product", ref+" has no published version")
			return
		}
		err = errors.Join(err, lerr)
		s.log.Error("web: read the catalog", "path", r.URL.Path, "error", err)
		api.Fail(w, http.StatusBadGateway, "store", "the catalog could not be read: "+s.detail(r, err))
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
		latest.Inputs = publicInputs(latest.Inputs)
	}
	api.WriteJSON(w, http.StatusOK, productJSON{Product: e.Ref, Latest: latest, Versions: e.Versions, Terms: terms})
}

// publicInputs returns inputs without the sources read from a worker's files,
// which anonymous callers are not shown.
func publicInputs(inputs []refresh.StagedInput) []refresh.StagedInput {
	out := slices.Clone(inputs)
	for i, in := range out {
		if in.SourceVersion == "" && localURI(in.Source) {
			out[i].Source = ""
		}
	}
	return out
}

func (s *server) productODPS(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("domain") + "/" + r.PathValue("name")
	if s.deps.Store == nil {
		api.Fail(w, http.StatusServiceUnavailable, "no_catalog", "this server has no object store configured")
		return
	}
	src, err := odps.Read(r.Context(), s.deps.Store, ref)
	if errors.Is(err, odps.ErrNotPublished) {
		api.Fail(w, http.StatusNotFound, "unknown_product", ref+" has no published version")
		return
	}
	if err != nil {
		s.log.Error("web: read the catalog", "path", r.URL.Path, "error", err)
		api.Fail(w, http.StatusBadGateway, "store", "the catalog could not be read: "+s.detail(r, err))
		return
	}
	opts := odps.Options{Mesh: s.deps.Mesh, BaseURL: s.baseURL(r)}
	if who, _ := s.principal(r); who == "" {
		// Anonymous callers see what the catalog pages show: no store
		// locations, local paths or people's e-mail addresses.
		src.Manifest.Inputs = publicInputs(src.Manifest.Inputs)
		src.DataURI = ""
		opts.HideEmails = true
	}
	api.WriteJSON(w, http.StatusOK, odps.Build(src, opts))
}

// baseURL is the address people reach this server at: Deps.PublicURL, else
// the scheme and host the request came to.
func (s *server) baseURL(r *http.Request) string {
	if s.public != nil {
		return strings.TrimRight(s.public.String(), "/")
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
