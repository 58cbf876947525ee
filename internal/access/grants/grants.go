// Package grants reads and writes access grants in the object store: one JSON
// object per grant under _grants/<domain>/<product>/<grant-id>.json, created with
// IfNoneMatch and changed only with IfMatch, so that concurrent writers never
// lose each other's changes. Where meshflow serves data it calls Check; the
// AccessRequest workflow's activities call Record and Revoke.
//
// It is apart from package access because it links the store (and with it the
// AWS SDK), which the workflow code must not.
package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Store is what grants need from the object store; storage.Store satisfies it.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error)
	Get(ctx context.Context, key string) (io.ReadCloser, storage.Object, error)
	List(ctx context.Context, prefix string) ([]storage.Object, error)
}

var (
	// ErrConflict reports a grant ID that is taken by another request's grant.
	ErrConflict = errors.New("grant ID taken by another grant")
	// ErrInvalid reports a grant that cannot be stored: no principal, a bad
	// product or ID, an expiry before its start.
	ErrInvalid = errors.New("invalid grant")
)

// List returns the grants of a product ("<domain>/<product>"), or every grant
// when product is empty, sorted by product, grant time and ID.
func List(ctx context.Context, st Store, product string) ([]access.Grant, error) {
	objs, err := st.List(ctx, access.Prefix(product))
	if err != nil {
		return nil, fmt.Errorf("list grants of %s: %w", orAll(product), err)
	}
	var out []access.Grant
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		g, _, err := read(ctx, st, o.Key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b access.Grant) int {
		if c := strings.Compare(a.Product, b.Product); c != 0 {
			return c
		}
		if c := a.GrantedAt.Compare(b.GrantedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Check reports whether principal may read product at now, with the active grant
// that allows it (the one that lasts longest). Only grants proven by a signed
// approval count (meshrev.VerifyGrant): a grant file written by anyone but the
// access workflow allows nothing.
func Check(ctx context.Context, st Store, principal, product string, now time.Time) (access.Grant, bool, error) {
	if principal == "" {
		return access.Grant{}, false, nil
	}
	all, err := List(ctx, st, product)
	if err != nil {
		return access.Grant{}, false, err
	}
	var best access.Grant
	found := false
	for _, g := range all {
		if g.Principal == principal && g.Product == product && g.Active(now) && (!found || g.ExpiresAt.After(best.ExpiresAt)) {
			if meshrev.VerifyGrant(ctx, st, g) != nil {
				continue
			}
			best, found = g, true
		}
	}
	return best, found, nil
}

// Find returns the grant with the given ID, whatever its product.
func Find(ctx context.Context, st Store, id string) (access.Grant, error) {
	all, err := List(ctx, st, "")
	if err != nil {
		return access.Grant{}, err
	}
	for _, g := range all {
		if g.ID == id {
			return g, nil
		}
	}
	return access.Grant{}, fmt.Errorf("grant %s: %w", id, storage.ErrNotFound)
}

// Record writes a new grant. Writing the same grant again (a retried activity)
// returns the stored one; a different grant under the same ID is ErrConflict.
func Record(ctx context.Context, st Store, g access.Grant) (access.Grant, error) {
	if err := valid(g); err != nil {
		return g, err
	}
	key := access.Key(g.Product, g.ID)
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return g, fmt.Errorf("record grant %s: %w", key, err)
	}
	_, err = st.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	if err == nil {
		return g, nil
	}
	if !errors.Is(err, storage.ErrPreconditionFailed) {
		return g, fmt.Errorf("record grant %s: %w", key, err)
	}
	cur, _, err := read(ctx, st, key)
	if err != nil {
		return g, err
	}
	if cur.WorkflowID != g.WorkflowID || cur.Principal != g.Principal {
		return cur, fmt.Errorf("record grant %s: held by %s of %s: %w", key, cur.WorkflowID, cur.Principal, ErrConflict)
	}
	return cur, nil
}

// Revoke marks a grant revoked by a principal, for a reason, at a time. Revoking
// a revoked grant changes nothing and returns it, so a retry is harmless. A
// concurrent change is read again and the revocation applied to it.
func Revoke(ctx context.Context, st Store, product, id, by, reason string, at time.Time) (access.Grant, error) {
	key := access.Key(product, id)
	for attempt := 0; ; attempt++ {
		g, obj, err := read(ctx, st, key)
		if err != nil {
			return g, err
		}
		if !g.RevokedAt.IsZero() {
			return g, nil
		}
		g.RevokedAt, g.RevokedBy, g.Reason = at.UTC(), by, reason
		b, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			return g, fmt.Errorf("revoke grant %s: %w", key, err)
		}
		_, err = st.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{IfMatch: obj.ETag, ContentType: "application/json"})
		if err == nil {
			return g, nil
		}
		if !errors.Is(err, storage.ErrPreconditionFailed) || attempt >= 4 {
			return g, fmt.Errorf("revoke grant %s: %w", key, err)
		}
	}
}

func read(ctx context.Context, st Store, key string) (access.Grant, storage.Object, error) {
	var g access.Grant
	r, obj, err := st.Get(ctx, key)
	if err != nil {
		return g, obj, fmt.Errorf("read grant %s: %w", key, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return g, obj, fmt.Errorf("read grant %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return g, obj, fmt.Errorf("read grant %s: %w", key, err)
	}
	return g, obj, nil
}

func valid(g access.Grant) error {
	switch {
	case g.ID == "" || strings.ContainsAny(g.ID, "/\\"):
		return fmt.Errorf("%w: ID %q: want a non-empty name without slashes", ErrInvalid, g.ID)
	case g.Principal == "":
		return fmt.Errorf("%w: grant %s names no principal", ErrInvalid, g.ID)
	case g.GrantedAt.IsZero() || !g.ExpiresAt.After(g.GrantedAt):
		return fmt.Errorf("%w: grant %s: expiry %s is not after grant time %s", ErrInvalid, g.ID, g.ExpiresAt, g.GrantedAt)
	}
	if _, _, ok := access.SplitRef(g.Product); !ok {
		return fmt.Errorf("%w: grant %s: product %q is not <domain>/<product>", ErrInvalid, g.ID, g.Product)
	}
	if err := storage.ValidateKey(access.Key(g.Product, g.ID)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func orAll(product string) string {
	if product == "" {
		return "all products"
	}
	return product
}
