// Package codec encrypts what meshflow's workflows carry. Payloads (workflow and
// activity inputs and results, queries, updates, failure messages) can hold
// personal data, e.g. the failing-row samples of a quality report; with a Codec
// in the client's data converter, Temporal's server and its database only ever
// see ciphertext.
//
// Each payload is sealed whole (its metadata and data, as protobuf) with
// AES-256-GCM under the primary key and a fresh random nonce; the result carries
// metadata encoding "binary/encrypted" and the key's ID ("encryption-key-id",
// the first 8 bytes of the key's SHA-256, in hex), which is also authenticated
// as additional data. Decode picks the key by that ID, so keys rotate: make a
// new primary key, keep the old ones as decrypt-only keys until the histories
// sealed with them have aged out of retention. Payloads that are not encrypted
// pass through Decode unchanged, so histories written before encryption was
// switched on stay readable.
//
// The Temporal UI decodes through a codec server (meshflow codec-server), which
// serves converter.NewPayloadCodecHTTPHandler with the same keys.
package codec

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// Encoding is the "encoding" metadata of an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that sealed a payload.
	MetadataKeyID = "encryption-key-id"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// ErrUnknownKey is returned by Decode for a payload sealed with a key the codec
// does not have.
var ErrUnknownKey = errors.New("payload was encrypted with a key this codec does not have")

// ErrDecrypt is returned by Decode when a payload fails authentication: it was
// altered, or sealed with another key under the same ID.
var ErrDecrypt = errors.New("payload does not decrypt: altered, or sealed with another key")

type key struct {
	id   string
	aead cipher.AEAD
}

// Codec is an AES-256-GCM converter.PayloadCodec.
type Codec struct {
	primary key
	keys    map[string]key
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec that encrypts with primary and decrypts with primary and
// any of old. Every key is KeySize bytes.
func New(primary []byte, old ...[]byte) (*Codec, error) {
	c := &Codec{keys: map[string]key{}}
	for i, raw := range append([][]byte{primary}, old...) {
		k, err := newKey(raw)
		if err != nil {
			return nil, fmt.Errorf("codec key %d: %w", i+1, err)
		}
		if i == 0 {
			c.primary = k
		}
		if _, dup := c.keys[k.id]; !dup {
			c.keys[k.id] = k
		}
	}
	return c, nil
}

func newKey(raw []byte) (key, error) {
	if len(raw) != KeySize {
		return key{}, fmt.Errorf("want %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, fmt.Errorf("make AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, fmt.Errorf("make GCM: %w", err)
	}
	return key{id: KeyID(raw), aead: aead}, nil
}

// KeyID returns the ID that payloads sealed with raw carry.
func KeyID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// PrimaryKeyID is the ID of the key Encode uses.
func (c *Codec) PrimaryKeyID() string { return c.primary.id }

// Encode seals every payload with the primary key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypt payload: marshal: %w", err)
		}
		nonce := make([]byte, c.primary.aead.NonceSize(), c.primary.aead.NonceSize()+len(plain)+c.primary.aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encrypt payload: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.primary.id),
			},
			Data: c.primary.aead.Seal(nonce, nonce, plain, []byte(c.primary.id)),
		}
	}
	return out, nil
}

// Decode opens every encrypted payload and passes the others through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		k, ok := c.keys[id]
		if !ok {
			return nil, fmt.Errorf("decrypt payload: key %q: %w", id, ErrUnknownKey)
		}
		ns := k.aead.NonceSize()
		if len(p.Data) < ns+k.aead.Overhead() {
			return nil, fmt.Errorf("decrypt payload: %d bytes is too short: %w", len(p.Data), ErrDecrypt)
		}
		plain, err := k.aead.Open(nil, p.Data[:ns], p.Data[ns:], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload with key %s: %w", id, ErrDecrypt)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fmt.Errorf("decrypt payload: unmarshal: %w", err)
		}
		out[i] = &orig
	}
	return out, nil
}

// ParseKey decodes one base64 (standard or URL alphabet, padded or not) key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("key decodes to %d bytes, want %d (make one with: head -c 32 /dev/urandom | base64)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("key is not base64 (make one with: head -c 32 /dev/urandom | base64)")
}

// ParseKeys reads keys from text: one base64 key per line or separated by
// commas, blank lines and lines starting with # ignored. The first key is the
// primary; the others are decrypt-only.
func ParseKeys(text string) (*Codec, error) {
	var keys [][]byte
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for f := range strings.SplitSeq(line, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			k, err := ParseKey(f)
			if err != nil {
				return nil, fmt.Errorf("codec key %d: %w", len(keys)+1, err)
			}
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no codec key given")
	}
	return New(keys[0], keys[1:]...)
}

// Load returns the codec of a key file (see ParseKeys), or, when file is
// empty, of the keys in env (the value of MESHFLOW_CODEC_KEY); nil when both
// are empty.
func Load(file, env string) (*Codec, error) {
	text := env
	from := "$MESHFLOW_CODEC_KEY"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read codec key file: %w", err)
		}
		text, from = string(bytes.TrimSpace(b)), file
	}
	if strings.TrimSpace(text) == "" {
		if file != "" {
			return nil, fmt.Errorf("codec key file %s is empty", file)
		}
		return nil, nil
	}
	c, err := ParseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("load codec keys from %s: %w", from, err)
	}
	return c, nil
}
