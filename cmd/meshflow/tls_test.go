package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "meshflow-worker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)

	if cfg, err := (&connFlags{}).tlsConfig(); cfg != nil || err != nil {
		t.Errorf("no TLS flags: %v, %v; want plain text", cfg, err)
	}
	if cfg, err := (&connFlags{apiKey: "k"}).tlsConfig(); cfg == nil || err != nil {
		t.Errorf("--api-key: %v, %v; want TLS", cfg, err)
	}
	cfg, err := (&connFlags{tlsCert: cert, tlsKey: key, tlsCA: cert, tlsServerName: "temporal.internal"}).tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || cfg.RootCAs == nil || cfg.ServerName != "temporal.internal" || cfg.MinVersion < 0x0303 {
		t.Errorf("mTLS config: %d certs, roots %v, server name %q, min version %x", len(cfg.Certificates), cfg.RootCAs, cfg.ServerName, cfg.MinVersion)
	}
	for name, c := range map[string]connFlags{
		"cert without key": {tlsCert: cert},
		"key without cert": {tlsKey: key},
		"cert is not PEM":  {tlsCert: key, tlsKey: key},
		"missing CA":       {tlsCA: filepath.Join(dir, "nope.pem")},
		"CA is not a cert": {tlsCA: key},
	} {
		if _, err := c.tlsConfig(); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
