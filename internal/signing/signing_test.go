package signing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	s, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	st := Statement{Action: ActionDecide, Principal: "maria.rossi", Subject: "refresh/finance/global-kpis/x", Product: "finance/global-kpis",
		ManifestHash: "abc", Approve: true, Comment: "ok", Duration: time.Hour}
	signed, proof := s.Sign(st, now)
	keys := []PublicKey{s.PublicKey()}
	if err := Verify(keys, signed, proof, now.Add(time.Minute)); err != nil {
		t.Fatalf("a fresh signature: %v", err)
	}
	if err := Verify(keys, signed, proof, time.Time{}); err != nil {
		t.Fatalf("an audit (no clock): %v", err)
	}
	// Every field is covered.
	for name, edit := range map[string]func(*Statement){
		"action":    func(s *Statement) { s.Action = ActionAccessDecide },
		"principal": func(s *Statement) { s.Principal = "omar.haddad" },
		"subject":   func(s *Statement) { s.Subject += "-2" },
		"product":   func(s *Statement) { s.Product = "finance/fx-rates" },
		"hash":      func(s *Statement) { s.ManifestHash = "abd" },
		"approve":   func(s *Statement) { s.Approve = false },
		"comment":   func(s *Statement) { s.Comment = "ok!" },
		"duration":  func(s *Statement) { s.Duration = 2 * time.Hour },
		"field shift": func(s *Statement) {
			s.Principal, s.Subject = "maria.rossi\"\n\"refresh", "finance/global-kpis/x"
		},
	} {
		changed := signed
		edit(&changed)
		if err := Verify(keys, changed, proof, now); !errors.Is(err, ErrBadSig) {
			t.Errorf("%s changed: %v, want ErrBadSig", name, err)
		}
	}
	later := proof
	later.Expires = later.Expires.Add(time.Hour)
	if err := Verify(keys, signed, later, now); !errors.Is(err, ErrBadSig) {
		t.Errorf("a longer expiry: %v, want ErrBadSig", err)
	}
	if err := Verify(keys, signed, proof, now.Add(DefaultTTL)); !errors.Is(err, ErrExpired) {
		t.Errorf("after the TTL: %v, want ErrExpired", err)
	}
	other, _ := NewSigner()
	if err := Verify([]PublicKey{other.PublicKey()}, signed, proof, now); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("another key: %v, want ErrUnknownKey", err)
	}
	if err := Verify(keys, signed, Proof{}, now); !errors.Is(err, ErrUnsigned) {
		t.Errorf("no proof: %v, want ErrUnsigned", err)
	}
}

func TestKeyFiles(t *testing.T) {
	s, _ := NewSigner()
	file := filepath.Join(t.TempDir(), "serve.key")
	if err := os.WriteFile(file, []byte(s.MarshalPrivate()), 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := LoadSigner(file)
	if err != nil || back.PublicKey() != s.PublicKey() || back.KeyID() != s.KeyID() {
		t.Fatalf("reloaded key: %v", err)
	}
	for _, bad := range []string{"", "ed25519:abc", "ed25519-private:!!", "ed25519-private:AAAA"} {
		if _, err := ParseSigner(bad, "k"); err == nil || !strings.Contains(err.Error(), "k:") {
			t.Errorf("ParseSigner(%q): %v, want an error naming the file", bad, err)
		}
	}
	for _, bad := range []string{"", "ed25519:", "rsa:AAAA", "ed25519:AAAA"} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
	if k, err := ParsePublicKey(" " + string(s.PublicKey()) + "\n"); err != nil || k.ID() != s.KeyID() {
		t.Errorf("ParsePublicKey of the key with spaces: %v", err)
	}
}
