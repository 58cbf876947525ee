// Package meshrev holds mesh revisions: the validated mesh as `meshflow apply`
// publishes it, immutable and content-addressed in the object store, with a
// current pointer moved by a conditional write. Workers resolve a product's spec,
// contract, governance, policies, consumers and task queue from a revision, never
// from what a caller puts in a workflow input, and manifests name the revision
// they were built from. Only apply's credentials may write under Prefix (see
// deploy/iam and deploy/s3).
//
// Layout:
//
//	_mesh/revisions/<sha256>.json   one revision; its key is the SHA-256 of its bytes
//	_mesh/current.json              {"revision": "<sha256>", "previous": …}
package meshrev

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.yaml.in/yaml/v3"
)

// Prefix is where revisions and the current pointer live in the store.
const Prefix = "_mesh/"

// CurrentKey is the key of the current pointer.
const CurrentKey = Prefix + "current.json"

// Key returns the key of a revision.
func Key(id string) string { return Prefix + "revisions/" + id + ".json" }

// Format is the version of the revision's layout.
const Format = 1

// Revision is an applied mesh: every product as a run needs it, the mesh's
// policies, the people who may approve access to each product, and the public
// keys whose signatures runs accept.
type Revision struct {
	Format int `json:"format"`
	// AppliedBy is the principal that applied the mesh; scheduled runs are
	// submitted in its name.
	AppliedBy string `json:"appliedBy"`
	// Keys are the public keys of meshflow serve.
	Keys     []signing.PublicKey        `json:"keys"`
	Products map[string]refresh.Product `json:"products"`
	// AccessApprovers are, per product, the people who may approve a request
	// to read it: its owner team's members and its stewards.
	AccessApprovers map[string][]string `json:"accessApprovers"`
	Policies        []refresh.Policy    `json:"policies,omitempty"`
	// Notifications route the mesh's events to channels (package notify).
	Notifications []spec.Notification `json:"notifications,omitempty"`
}

// Pointer is the content of the current pointer.
type Pointer struct {
	Revision  string    `json:"revision"`
	Previous  string    `json:"previous,omitempty"`
	AppliedBy string    `json:"appliedBy"`
	AppliedAt time.Time `json:"appliedAt"`
}

// Build turns a validated mesh into a revision. Relative file:// inputs are made
// absolute against the mesh folder, contracts are carried as YAML text and
// governance defaults are filled in.
func Build(set *spec.Set, appliedBy string, keys []signing.PublicKey) (Revision, error) {
	rev := Revision{Format: Format, AppliedBy: appliedBy, Keys: slices.Clone(keys),
		Products: map[string]refresh.Product{}, AccessApprovers: map[string][]string{}}
	if strings.TrimSpace(appliedBy) == "" {
		return rev, errors.New("a revision needs the principal that applies it")
	}
	if len(keys) == 0 {
		return rev, errors.New("a revision needs meshflow serve's public key, or no decision could be proven: pass --signing-public-key")
	}
	if set.Mesh != nil {
		for _, pol := range set.Mesh.Policies {
			rev.Policies = append(rev.Policies, refresh.Policy{ID: pol.ID, Message: pol.Message, Severity: pol.Severity, Rule: pol.Rule})
		}
		rev.Notifications = slices.Clone(set.Mesh.Notifications)
	}
	for _, p := range set.Products {
		rp, err := Product(set, p)
		if err != nil {
			return rev, err
		}
		rev.Products[rp.Ref()] = rp
		rev.AccessApprovers[rp.Ref()] = set.People(append([]string{p.Metadata.Owner}, set.Stewards(p)...))
	}
	return rev, nil
}

// Product resolves a product of a loaded mesh into what a run needs, as the
// revision carries it: file:// inputs absolute against the mesh folder (with
// the URI as written kept in SpecURI), the contract as YAML text, stewards and
// escalation expanded into people and governance defaults filled in. meshcheck
// resolves products with it too, so that policies see at validate time what
// they see in a run.
func Product(set *spec.Set, p *spec.Product) (refresh.Product, error) {
	out := refresh.Product{
		Domain: p.Metadata.Domain, Name: p.Metadata.Name, Owner: p.Metadata.Owner,
		Description: p.Metadata.Description, Tags: p.Metadata.Tags, SQL: p.Transform.SQL,
		ContractFile: p.ContractFile, Access: p.AccessMode(),
		PublishUnchanged: p.Output.Unchanged == spec.UnchangedPublish,
	}
	if d := set.Domain(p.Metadata.Domain); d != nil {
		out.TaskQueue = d.Queue()
	} else {
		return out, fmt.Errorf("%s: unknown domain %q", p.Ref(), p.Metadata.Domain)
	}
	meshDir, err := filepath.Abs(set.Dir)
	if err != nil {
		return out, err
	}
	for _, in := range p.Inputs {
		ri := refresh.Input{Name: in.Name, Product: in.Product, Major: in.Major, Format: in.DataFormat(), Delimiter: in.Delimiter, Header: in.Header, BadRows: in.BadRows, Table: in.Table, Query: in.Query}
		if producer := set.Product(in.Product); producer != nil {
			ri.Access = producer.AccessMode()
		}
		ri.Partitioned = set.PartitionedInput(p, in)
		if in.URI != "" {
			ri.URI, ri.SpecURI = in.URI, in.URI
			if rel, ok := strings.CutPrefix(in.URI, "file://"); ok && !strings.HasPrefix(rel, "/") {
				ri.URI = "file://" + filepath.ToSlash(filepath.Join(meshDir, filepath.FromSlash(rel)))
			}
		}
		out.Inputs = append(out.Inputs, ri)
	}
	if pt := p.Partitions; pt != nil {
		out.Partitions = &refresh.Partitioning{By: pt.By, Column: pt.Column, Start: pt.Start, Lookback: pt.Lookback, MaxParallel: pt.MaxParallel}
	}
	if p.Contract == nil {
		return out, fmt.Errorf("%s: the contract could not be read; run meshflow validate", p.Ref())
	}
	if p.ContractFile == p.Doc.File {
		b, err := yaml.Marshal(p.ContractNode)
		if err != nil {
			return out, fmt.Errorf("%s: encode inline contract: %w", p.Ref(), err)
		}
		out.Contract = string(b)
	} else {
		out.Contract = string(p.Contract.Doc.Source)
	}
	g := p.Governance
	out.Governance = refresh.Governance{Approval: g.Approval, Stewards: set.People(set.Stewards(p)),
		StewardPrincipals: slices.Clone(set.Stewards(p)), Quorum: g.Quorum,
		Timeout: g.Timeout, EscalateTo: set.People(g.EscalateTo), EscalateAfter: g.EscalateAfter}
	if out.Governance.Approval == "" {
		out.Governance.Approval = refresh.ApprovalNever
	}
	if out.Governance.Timeout == 0 {
		out.Governance.Timeout = refresh.DefaultApprovalTimeout
	}
	for _, c := range set.Consumers(p.Ref()) {
		out.Consumers = append(out.Consumers, c.Ref())
	}
	return out, nil
}

// Encode returns the revision's bytes and its ID, the SHA-256 of those bytes.
// encoding/json sorts map keys, so the same mesh always has the same ID.
func (r Revision) Encode() ([]byte, string, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), nil
}

// Published says what Publish did.
type Published struct {
	ID string
	// Moved is false when the revision was current already.
	Moved bool
	// Previous is the revision that was current before ("" for the first).
	Previous string
}

// Publish writes the revision (create-only: an existing revision is the same
// bytes) and moves the current pointer to it with a conditional write, so two
// applies racing cannot both think they won.
func Publish(ctx context.Context, st storage.Store, rev Revision, now time.Time) (Published, error) {
	b, id, err := rev.Encode()
	if err != nil {
		return Published{}, err
	}
	out := Published{ID: id}
	if _, err := st.Put(ctx, Key(id), bytes.NewReader(b), storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"}); err != nil && !errors.Is(err, storage.ErrPreconditionFailed) {
		return out, fmt.Errorf("write mesh revision %s: %w", short(id), err)
	}
	cur, obj, err := current(ctx, st)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return out, err
	case cur.Revision == id:
		out.Previous = cur.Previous
		return out, nil
	default:
		out.Previous = cur.Revision
	}
	pb, err := json.MarshalIndent(Pointer{Revision: id, Previous: out.Previous, AppliedBy: rev.AppliedBy, AppliedAt: now.UTC()}, "", "  ")
	if err != nil {
		return out, err
	}
	opts := storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"}
	if obj.ETag != "" {
		opts = storage.PutOptions{IfMatch: obj.ETag, ContentType: "application/json"}
	}
	if _, err := st.Put(ctx, CurrentKey, bytes.NewReader(pb), opts); err != nil {
		if errors.Is(err, storage.ErrPreconditionFailed) {
			return out, fmt.Errorf("another apply moved the current mesh revision at the same moment; apply again: %w", err)
		}
		return out, fmt.Errorf("move the current mesh revision: %w", err)
	}
	out.Moved = true
	return out, nil
}

// Getter is what reading revisions needs from the store; storage.Store
// satisfies it.
type Getter interface {
	Get(ctx context.Context, key string) (io.ReadCloser, storage.Object, error)
}

// Current returns the current pointer.
func Current(ctx context.Context, st Getter) (Pointer, error) {
	p, _, err := current(ctx, st)
	return p, err
}

func current(ctx context.Context, st Getter) (Pointer, storage.Object, error) {
	var p Pointer
	rc, obj, err := st.Get(ctx, CurrentKey)
	if err != nil {
		return p, obj, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return p, obj, fmt.Errorf("read the current mesh revision: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, obj, fmt.Errorf("read the current mesh revision: %w", err)
	}
	return p, obj, nil
}

// ErrNoRevision reports that no mesh was applied, or that the named revision
// is not in the store.
var ErrNoRevision = errors.New("no such mesh revision")

// maxRevision bounds what Load reads.
const maxRevision = 256 << 20

// Load reads a revision: id is a revision's SHA-256, or "" or
// refresh.RevisionCurrent for the current one. The bytes are checked against
// the ID, so a revision cannot be edited in place.
func Load(ctx context.Context, st Getter, id string) (Revision, string, error) {
	var rev Revision
	if id == "" || id == refresh.RevisionCurrent {
		p, _, err := current(ctx, st)
		if errors.Is(err, storage.ErrNotFound) {
			return rev, "", fmt.Errorf("%w: no mesh was applied to this store yet; run meshflow apply", ErrNoRevision)
		}
		if err != nil {
			return rev, "", err
		}
		id = p.Revision
	}
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return rev, "", fmt.Errorf("%w: %q is not a revision ID (64 hex digits) or %q", ErrNoRevision, id, refresh.RevisionCurrent)
	}
	rc, _, err := st.Get(ctx, Key(id))
	if errors.Is(err, storage.ErrNotFound) {
		return rev, "", fmt.Errorf("%w: %s", ErrNoRevision, short(id))
	}
	if err != nil {
		return rev, "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxRevision))
	if err != nil {
		return rev, "", fmt.Errorf("read mesh revision %s: %w", short(id), err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != id {
		return rev, "", fmt.Errorf("mesh revision %s: its content does not match its ID: the store was tampered with", short(id))
	}
	if err := json.Unmarshal(b, &rev); err != nil {
		return rev, "", fmt.Errorf("read mesh revision %s: %w", short(id), err)
	}
	return rev, id, nil
}

// Resolve returns a product of the revision with everything a run of it needs:
// the products downstream of it (its consumers and theirs), the policies and
// the keys.
func (r Revision) Resolve(id, ref string) (refresh.Resolved, error) {
	p, ok := r.Products[ref]
	if !ok {
		return refresh.Resolved{}, fmt.Errorf("%w: mesh revision %s has no product %s", ErrNoRevision, short(id), ref)
	}
	p.Revision = id
	out := refresh.Resolved{Revision: id, Product: p, Policies: r.Policies, Keys: r.Keys, AppliedBy: r.AppliedBy,
		Downstream: map[string]refresh.Product{}}
	queue := slices.Clone(p.Consumers)
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if _, done := out.Downstream[c]; done {
			continue
		}
		cp, ok := r.Products[c]
		if !ok {
			continue
		}
		out.Downstream[c] = cp
		queue = append(queue, cp.Consumers...)
	}
	return out, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Short returns the first 12 digits of a revision ID, for messages.
func Short(id string) string { return short(id) }
