package serve

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// MaxLinkTTL bounds how long a download link stays valid.
const MaxLinkTTL = 15 * time.Minute

// MaxPresignTTL bounds how long an S3 presigned link stays valid. A presigned
// URL is checked by S3, not by meshflow: nothing can revoke it, so a grant
// revoked after it was handed out still lets it be used until it expires. It
// is kept short for that reason.
const MaxPresignTTL = 5 * time.Minute

// dataRoutes serves published data to principals allowed to read it: the
// product's owners and stewards, and holders of an active access grant.
func (s *Server) dataRoutes() {
	s.mux.HandleFunc(api.RouteData, s.authenticated(s.download))
	s.mux.HandleFunc(api.RouteLink, s.authenticated(s.link))
	s.mux.HandleFunc(api.RouteFollowLink, s.followLink)
}

// mayRead reports until when principal may read ref; ok is false without a right.
func (s *Server) mayRead(ctx context.Context, principal, ref string) (until time.Time, ok bool, err error) {
	now := s.now()
	if s.readers != nil && slices.Contains(s.readers(ref), principal) {
		return now.Add(MaxLinkTTL), true, nil
	}
	g, ok, err := grants.Check(ctx, s.store, principal, ref, now)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	return g.ExpiresAt, true, nil
}

// dataObject finds the data object of a product's version ("" for the latest).
func (s *Server) dataObject(ctx context.Context, w http.ResponseWriter, r *http.Request, principal string) (refresh.Manifest, time.Time, bool) {
	ref := r.PathValue("domain") + "/" + r.PathValue("name")
	m, until, e := s.readable(ctx, principal, ref, r.URL.Query().Get("version"))
	if e != nil {
		api.WriteError(w, e)
		return refresh.Manifest{}, time.Time{}, false
	}
	if m.Partitions != nil {
		api.Fail(w, http.StatusConflict, CodePartitioned, fmt.Sprintf("%s %s is partitioned (%d partitions): it is no single object; read it with POST /api/v1/query, or with the DuckDB query meshflow catalog show prints",
			m.Product, m.Version, m.Partitions.Total))
		return refresh.Manifest{}, time.Time{}, false
	}
	return m, until, true
}

// CodePartitioned answers a download or link of a partitioned version.
const CodePartitioned = "partitioned"

// dataObjects returns the objects that hold a readable version's rows: its
// data object, or each partition's, each checked to be one of the product's
// own objects.
func (s *Server) dataObjects(ctx context.Context, m refresh.Manifest) ([]refresh.ObjectRef, *api.Error) {
	objs, err := catalog.DataObjects(ctx, s.store, m)
	if err != nil {
		return nil, api.Errorf(http.StatusBadGateway, "store", "cannot read the partitions of %s %s: %v", m.Product, m.Version, err)
	}
	for _, o := range objs {
		if _, own := layout.RunOfPartitionKey(m.Product, o.Key); m.Partitions != nil && !own {
			s.log.Warn("partition index names data outside its product", "product", m.Product, "version", m.Version, "key", o.Key)
			return nil, api.Errorf(http.StatusBadGateway, "store", "the partition index of %s %s names data outside its product; run meshflow catalog audit", m.Product, m.Version)
		}
	}
	return objs, nil
}

// readable is the one decision of who may read which product's data, for
// downloads, links and queries: it returns the manifest of ref's version (""
// for the latest) when principal may read ref, and until when. Without a right
// the answer is 403 no_grant, whether or not ref exists; a version must be in
// the latest version's chain (never a lost claim), else 404 unknown_version.
func (s *Server) readable(ctx context.Context, principal, ref, version string) (refresh.Manifest, time.Time, *api.Error) {
	if s.store == nil {
		return refresh.Manifest{}, time.Time{}, api.Errorf(http.StatusNotFound, "not_found", "this server does not serve data (no object store configured)")
	}
	until, ok, err := s.mayRead(ctx, principal, ref)
	if err != nil {
		return refresh.Manifest{}, time.Time{}, api.Errorf(http.StatusBadGateway, "store", "cannot check access: %v", err)
	}
	if !ok {
		s.metrics.dataRefused.Inc()
		s.log.Warn("data access refused", "principal", principal, "product", ref)
		return refresh.Manifest{}, time.Time{}, api.Errorf(http.StatusForbidden, "no_grant", "%s has no access to %s; ask for it with `meshflow access request %s --purpose …`", principal, ref, ref)
	}
	head, found, err := catalog.ReadLatest(ctx, s.store, ref)
	switch {
	case err != nil:
		return refresh.Manifest{}, time.Time{}, api.Errorf(http.StatusBadGateway, "store", "cannot read the catalog: %v", err)
	case !found:
		return refresh.Manifest{}, time.Time{}, api.Errorf(http.StatusNotFound, "unknown_product", "%s has no published version", ref)
	}
	m := head.Manifest
	if version != "" && version != m.Version {
		// Only committed versions (in latest's chain), never a lost claim.
		entry, err := catalog.Show(ctx, s.store, ref)
		if err == nil && slices.Contains(entry.Versions, version) {
			m, err = catalog.ReadManifest(ctx, s.store, ref, version)
		}
		if err != nil || !slices.Contains(entry.Versions, version) || m.Version != version {
			return refresh.Manifest{}, time.Time{}, api.Errorf(http.StatusNotFound, "unknown_version", "%s has no published version %q", ref, version)
		}
	}
	// A manifest names the product's own data only: a manifest written to
	// point at another product's objects serves nothing. A partitioned
	// version's objects are checked as they are read (dataObjects).
	if m.Partitions == nil && !strings.HasPrefix(m.Data.Key, layout.VersionPrefix(ref, m.Version)+"/") {
		s.log.Warn("manifest names data outside its version", "product", ref, "version", m.Version, "key", m.Data.Key)
		return refresh.Manifest{}, time.Time{}, api.Errorf(http.StatusBadGateway, "store", "the manifest of %s %s names data outside its version; run meshflow catalog audit", ref, m.Version)
	}
	return m, until, nil
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, principal string) {
	m, _, ok := s.dataObject(r.Context(), w, r, principal)
	if ok {
		s.stream(w, r, m.Data)
	}
}

// stream copies an object to the response; a checksum failure at the end aborts
// the connection, so the client never takes a corrupt body for a complete one.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, obj refresh.ObjectRef) {
	rc, _, err := s.store.Get(r.Context(), obj.Key)
	if err != nil {
		api.Fail(w, http.StatusBadGateway, "store", "cannot read the data: "+err.Error())
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/vnd.apache.parquet")
	w.Header().Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	w.Header().Set("X-Meshflow-SHA256", obj.SHA256)
	w.Header().Set("Content-Disposition", `attachment; filename="`+path.Base(obj.Key)+`"`)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Error("data download broken off", "key", obj.Key, "error", err)
		panic(http.ErrAbortHandler)
	}
}

type linkJSON struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
}

// link hands out a download link that needs no credentials and expires with the
// caller's right to read. When the store is S3 it is a presigned URL, valid for
// at most MaxPresignTTL, that S3 serves: it cannot be revoked, a revoked grant
// ends it only when it expires. Otherwise it is a link to this server (at most
// MaxLinkTTL) signed with its key, naming the principal and the product: each
// use checks again that the principal may read the product, so a revoked grant
// ends the link at once.
func (s *Server) link(w http.ResponseWriter, r *http.Request, principal string) {
	m, until, ok := s.dataObject(r.Context(), w, r, principal)
	if !ok {
		return
	}
	now := s.now()
	ttl := min(MaxLinkTTL, until.Sub(now))
	p, presign := s.store.(storage.Presigner)
	if presign {
		ttl = min(ttl, MaxPresignTTL)
	}
	out := linkJSON{ExpiresAt: now.Add(ttl).UTC(), Version: m.Version, SHA256: m.Data.SHA256, Size: m.Data.Size}
	if presign {
		u, err := p.PresignGet(r.Context(), m.Data.Key, ttl)
		if err != nil {
			api.Fail(w, http.StatusBadGateway, "store", err.Error())
			return
		}
		out.URL = u
	} else {
		ref := r.PathValue("domain") + "/" + r.PathValue("name")
		out.URL = "/api/v1/links/" + s.signLink(m.Data, principal, ref, out.ExpiresAt)
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// signLink encodes key, size, checksum, expiry, the principal and the product
// with an HMAC of the server's key.
func (s *Server) signLink(obj refresh.ObjectRef, principal, ref string, expires time.Time) string {
	payload := url.Values{"k": {obj.Key}, "n": {strconv.FormatInt(obj.Size, 10)}, "h": {obj.SHA256}, "e": {strconv.FormatInt(expires.Unix(), 10)},
		"p": {principal}, "r": {ref}}.Encode()
	mac := hmac.New(sha256.New, s.linkKey)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

var errBadLink = errors.New("the link is malformed, forged or expired; ask for a new one")

// signedLink is what a verified link names.
type signedLink struct {
	obj            refresh.ObjectRef
	principal, ref string
}

func (s *Server) verifyLink(token string) (signedLink, error) {
	p64, sig64, ok := strings.Cut(token, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if !ok || err1 != nil || err2 != nil {
		return signedLink{}, errBadLink
	}
	mac := hmac.New(sha256.New, s.linkKey)
	mac.Write(payload)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return signedLink{}, errBadLink
	}
	v, err := url.ParseQuery(string(payload))
	if err != nil {
		return signedLink{}, errBadLink
	}
	exp, err := strconv.ParseInt(v.Get("e"), 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return signedLink{}, errBadLink
	}
	size, err := strconv.ParseInt(v.Get("n"), 10, 64)
	if err != nil || v.Get("p") == "" || v.Get("r") == "" {
		return signedLink{}, errBadLink
	}
	return signedLink{obj: refresh.ObjectRef{Key: v.Get("k"), Size: size, SHA256: v.Get("h")}, principal: v.Get("p"), ref: v.Get("r")}, nil
}

// followLink serves a link's object after checking, now, that the principal
// it was made for may still read the product.
func (s *Server) followLink(w http.ResponseWriter, r *http.Request) {
	if s.store == nil {
		api.Fail(w, http.StatusNotFound, "not_found", "this server does not serve data")
		return
	}
	l, err := s.verifyLink(r.PathValue("token"))
	if err != nil {
		s.metrics.dataRefused.Inc()
		api.Fail(w, http.StatusForbidden, "bad_link", err.Error())
		return
	}
	_, ok, err := s.mayRead(r.Context(), l.principal, l.ref)
	if err != nil {
		api.Fail(w, http.StatusBadGateway, "store", "cannot check access: "+err.Error())
		return
	}
	if !ok {
		s.metrics.dataRefused.Inc()
		s.log.Warn("download link refused: no access any more", "principal", l.principal, "product", l.ref)
		api.Fail(w, http.StatusForbidden, "no_grant", fmt.Sprintf("the link was made for %s, who has no access to %s any more", l.principal, l.ref))
		return
	}
	s.stream(w, r, l.obj)
}
