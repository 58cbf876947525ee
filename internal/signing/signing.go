// Package signing proves who acted. meshflow serve authenticates a person and
// signs a Statement of what they asked for (start a refresh, approve a run,
// request or grant access) with its Ed25519 key; workflows accept the action only
// with a valid signature by a key of the applied mesh revision, and manifests and
// grants keep the signature, so that anyone holding the public key can check a
// sign-off later. It imports only the standard library, so workflow code may use
// it: verification is a pure function of its inputs.
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The actions a Statement can sign.
const (
	ActionRefresh       = "refresh"        // start a refresh of Product; Subject is the workflow ID
	ActionDecide        = "decide"         // approve or reject the run Subject, reviewing ManifestHash
	ActionAccessRequest = "access-request" // ask to read Product; Subject is the workflow ID
	ActionAccessDecide  = "access-decide"  // approve or reject the access request Subject
	ActionAccessRevoke  = "access-revoke"  // revoke the grant of the access request Subject
)

// DefaultTTL is how long a signature made for one action stays valid: long
// enough to reach the workflow, too short to be replayed later.
const DefaultTTL = 5 * time.Minute

// Statement is what a signature covers: who did what to which run, and until when
// the signature may be used.
type Statement struct {
	Action    string `json:"action"`
	Principal string `json:"principal"`
	// Subject is the workflow ID the action is for.
	Subject string `json:"subject"`
	// Product is "<domain>/<name>".
	Product      string `json:"product"`
	ManifestHash string `json:"manifestHash,omitempty"`
	Approve      bool   `json:"approve,omitempty"`
	// Comment holds a decision's comment, a run's reason, an access request's
	// purpose or a revocation's reason: it is covered too, so that a signed
	// action cannot be given other words on its way.
	Comment string `json:"comment,omitempty"`
	// Duration is how long the access an access request asks for, or an
	// approval grants, lasts.
	Duration time.Duration `json:"duration,omitempty"`
	// Revision is the mesh revision a request asks to run ("" or "current").
	Revision string    `json:"revision,omitempty"`
	Expires  time.Time `json:"expires"`
}

// Proof is a signature of a Statement and the key that made it.
type Proof struct {
	KeyID     string    `json:"keyId"`
	Signature string    `json:"signature"`
	Expires   time.Time `json:"expires"`
}

// Signed is a statement with its proof.
type Signed struct {
	Statement Statement `json:"statement"`
	Proof     Proof     `json:"proof"`
}

// Empty reports whether the proof carries no signature.
func (p Proof) Empty() bool { return p.Signature == "" }

// context prefixes every signed message so that a signature made for meshflow
// statements cannot be taken for anything else.
const context = "meshflow-statement/v1\n"

// Message returns the bytes a signature covers: the context string and each
// field of the statement on a line of its own, as a quoted Go string (times in
// UTC RFC 3339, to the second). It uses no reflection, so workflow code may
// call it. Runs verify signatures while they replay, so the format is part of
// their determinism: a new format needs a new context string, and the old one
// must keep verifying for the runs that were signed with it.
func Message(st Statement) []byte {
	var b strings.Builder
	b.WriteString(context)
	for _, f := range []string{st.Action, st.Principal, st.Subject, st.Product, st.ManifestHash,
		strconv.FormatBool(st.Approve), st.Comment, strconv.FormatInt(int64(st.Duration), 10), st.Revision,
		st.Expires.UTC().Truncate(time.Second).Format(time.RFC3339)} {
		b.WriteString(strconv.Quote(f))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// PublicKey is an Ed25519 public key in its text form "ed25519:<base64>".
type PublicKey string

// ID returns the key's ID: the first 8 bytes of the SHA-256 of the key, in hex.
func (k PublicKey) ID() string {
	raw, err := k.raw()
	if err != nil {
		return ""
	}
	return keyID(raw)
}

func keyID(raw ed25519.PublicKey) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

func (k PublicKey) raw() (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(string(k), "ed25519:")
	if !ok {
		return nil, fmt.Errorf("public key %q: want ed25519:<base64>", shorten(string(k)))
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q: want ed25519:<base64 of %d bytes>", shorten(string(k)), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParsePublicKey checks the text form of a public key.
func ParsePublicKey(s string) (PublicKey, error) {
	k := PublicKey(strings.TrimSpace(s))
	_, err := k.raw()
	return k, err
}

func shorten(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// Signer signs statements with one private key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer with a fresh key.
func NewSigner() (*Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return signerOf(priv), nil
}

func signerOf(priv ed25519.PrivateKey) *Signer {
	return &Signer{key: priv, id: keyID(priv.Public().(ed25519.PublicKey))}
}

// PublicKey returns the signer's public key in text form.
func (s *Signer) PublicKey() PublicKey {
	return PublicKey("ed25519:" + base64.StdEncoding.EncodeToString(s.key.Public().(ed25519.PublicKey)))
}

// KeyID returns the ID of the signer's key.
func (s *Signer) KeyID() string { return s.id }

// Sign signs st. A zero Expires is set to now plus DefaultTTL.
func (s *Signer) Sign(st Statement, now time.Time) (Statement, Proof) {
	if st.Expires.IsZero() {
		st.Expires = now.Add(DefaultTTL)
	}
	st.Expires = st.Expires.UTC().Truncate(time.Second)
	sig := ed25519.Sign(s.key, Message(st))
	return st, Proof{KeyID: s.id, Signature: base64.StdEncoding.EncodeToString(sig), Expires: st.Expires}
}

// privatePrefix starts the text form of a private key in a key file.
const privatePrefix = "ed25519-private:"

// MarshalPrivate returns the signer's key as the text of a key file.
func (s *Signer) MarshalPrivate() string {
	return privatePrefix + base64.StdEncoding.EncodeToString(s.key.Seed()) + "\n"
}

// LoadSigner reads a key file written by MarshalPrivate (or `meshflow keys new`).
func LoadSigner(file string) (*Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	return ParseSigner(string(b), file)
}

// ParseSigner reads the text of a key file; name is used in errors.
func ParseSigner(text, name string) (*Signer, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(text), privatePrefix)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key: want a line %s<base64> (make one with meshflow keys new)", name, privatePrefix)
	}
	seed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: the signing key is not base64 of %d bytes", name, ed25519.SeedSize)
	}
	return signerOf(ed25519.NewKeyFromSeed(seed)), nil
}

// Errors of Verify.
var (
	ErrUnsigned   = errors.New("the action is not signed by meshflow serve")
	ErrUnknownKey = errors.New("the action is signed by a key the mesh revision does not hold")
	ErrBadSig     = errors.New("the signature does not match the action")
	ErrExpired    = errors.New("the signature has expired")
)

// Verify checks that proof signs st with one of keys and has not expired at now.
// st.Expires is taken from the proof.
func Verify(keys []PublicKey, st Statement, proof Proof, now time.Time) error {
	if proof.Empty() {
		return ErrUnsigned
	}
	st.Expires = proof.Expires
	sig, err := base64.StdEncoding.DecodeString(proof.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return ErrBadSig
	}
	i := slices.IndexFunc(keys, func(k PublicKey) bool { return k.ID() == proof.KeyID })
	if i < 0 {
		return fmt.Errorf("%w (key %s)", ErrUnknownKey, proof.KeyID)
	}
	raw, err := keys[i].raw()
	if err != nil {
		return err
	}
	if !ed25519.Verify(raw, Message(st), sig) {
		return ErrBadSig
	}
	if !now.IsZero() && !now.Before(proof.Expires) {
		return fmt.Errorf("%w (at %s)", ErrExpired, proof.Expires.Format(time.RFC3339))
	}
	return nil
}
