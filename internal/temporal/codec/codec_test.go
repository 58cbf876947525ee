package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

func newKeyBytes(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustNew(t *testing.T, primary []byte, old ...[]byte) *Codec {
	t.Helper()
	c, err := New(primary, old...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const secret = `{"failingRows":[{"email":"li.wei@acme.example"}]}`

func payload(t *testing.T) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]any{"failingRows": []map[string]string{{"email": "li.wei@acme.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	c := mustNew(t, newKeyBytes(t))
	in := payload(t)
	enc, err := c.Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(enc[0].Metadata[converter.MetadataEncoding]); got != Encoding {
		t.Errorf("encoding %q, want %q", got, Encoding)
	}
	if got := string(enc[0].Metadata[MetadataKeyID]); got != c.PrimaryKeyID() {
		t.Errorf("key id %q, want %q", got, c.PrimaryKeyID())
	}
	if bytes.Contains(enc[0].Data, []byte("li.wei")) || bytes.Contains(enc[0].Data, []byte("json/plain")) {
		t.Error("encrypted payload shows the plain text or its encoding")
	}
	enc2, _ := c.Encode([]*commonpb.Payload{in})
	if bytes.Equal(enc[0].Data, enc2[0].Data) {
		t.Error("two encryptions of one payload are equal: nonce reused")
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], in) {
		t.Errorf("decoded %v, want %v", dec[0], in)
	}
	// Through a data converter, as clients and workers use it.
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
	p, err := dc.ToPayload("rows: " + secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p.Data), "li.wei") {
		t.Error("data converter payload is not encrypted")
	}
	var s string
	if err := dc.FromPayload(p, &s); err != nil || s != "rows: "+secret {
		t.Errorf("FromPayload = %q, %v", s, err)
	}
}

func TestDecodePassesPlainPayloadsThrough(t *testing.T) {
	c := mustNew(t, newKeyBytes(t))
	in := payload(t)
	dec, err := c.Decode([]*commonpb.Payload{in})
	if err != nil || dec[0] != in {
		t.Errorf("plain payload: %v, %v", dec, err)
	}
}

func TestTamperDetected(t *testing.T) {
	c := mustNew(t, newKeyBytes(t))
	enc, err := c.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(p *commonpb.Payload){
		"flipped bit":   func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 1 },
		"truncated":     func(p *commonpb.Payload) { p.Data = p.Data[:10] },
		"nonce changed": func(p *commonpb.Payload) { p.Data[0] ^= 0x80 },
	} {
		p := proto.Clone(enc[0]).(*commonpb.Payload)
		mutate(p)
		if _, err := c.Decode([]*commonpb.Payload{p}); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err %v, want ErrDecrypt", name, err)
		}
	}
}

func TestWrongKey(t *testing.T) {
	a, b := mustNew(t, newKeyBytes(t)), mustNew(t, newKeyBytes(t))
	enc, err := a.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decode(enc); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("other key: err %v, want ErrUnknownKey", err)
	}
	// A payload claiming b's key ID but sealed with a's key does not open.
	enc[0].Metadata[MetadataKeyID] = []byte(b.PrimaryKeyID())
	if _, err := b.Decode(enc); !errors.Is(err, ErrDecrypt) {
		t.Errorf("forged key id: err %v, want ErrDecrypt", err)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := newKeyBytes(t), newKeyBytes(t)
	before := mustNew(t, oldKey)
	sealedOld, err := before.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	after := mustNew(t, newKey, oldKey)
	if after.PrimaryKeyID() != KeyID(newKey) {
		t.Fatal("the first key is not the primary")
	}
	if _, err := after.Decode(sealedOld); err != nil {
		t.Errorf("rotated codec cannot read a payload of the old key: %v", err)
	}
	sealedNew, err := after.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sealedNew[0].Metadata[MetadataKeyID]); got != KeyID(newKey) {
		t.Errorf("rotated codec encrypts with key %s, want the new one %s", got, KeyID(newKey))
	}
	if _, err := before.Decode(sealedNew); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old codec on a new payload: err %v, want ErrUnknownKey", err)
	}
	// Dropping the old key after retention makes its payloads unreadable.
	if _, err := mustNew(t, newKey).Decode(sealedOld); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("retired key: err %v, want ErrUnknownKey", err)
	}
}

func TestLoadKeys(t *testing.T) {
	k1, k2 := newKeyBytes(t), newKeyBytes(t)
	b64 := base64.StdEncoding.EncodeToString
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# primary first\n"+b64(k1)+"\n\n"+b64(k2)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, "ignored when a file is given")
	if err != nil {
		t.Fatal(err)
	}
	if c.PrimaryKeyID() != KeyID(k1) || len(c.keys) != 2 {
		t.Errorf("file: primary %s and %d keys, want %s and 2", c.PrimaryKeyID(), len(c.keys), KeyID(k1))
	}
	c, err = Load("", b64(k2)+","+b64(k1))
	if err != nil || c.PrimaryKeyID() != KeyID(k2) || len(c.keys) != 2 {
		t.Errorf("env: %v, %v", c, err)
	}
	if c, err := Load("", ""); c != nil || err != nil {
		t.Errorf("no key: %v, %v; want nil, nil", c, err)
	}
	for _, bad := range []string{"not base64!", b64(k1[:16]), "#only a comment"} {
		if _, err := Load("", bad); err == nil {
			t.Errorf("keys %q: want an error", bad)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Error("missing key file: want an error")
	}
}

func TestHandler(t *testing.T) {
	c := mustNew(t, newKeyBytes(t))
	srv := httptest.NewServer(Handler(c, []string{"http://localhost:8233"}))
	defer srv.Close()
	enc, err := c.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Decode through the remote codec client the SDK ships, as the UI and tctl do.
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL})
	dec, err := remote.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dec[0].Data), "li.wei") {
		t.Errorf("remote decode gave %q", dec[0].Data)
	}
	// CORS preflight from the UI's origin, and from another.
	for origin, want := range map[string]string{"http://localhost:8233": "http://localhost:8233", "https://evil.example": ""} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("preflight from %s: Allow-Origin %q, want %q", origin, got, want)
		}
		if want != "" && !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Namespace") {
			t.Errorf("preflight: Allow-Headers %q lacks X-Namespace", resp.Header.Get("Access-Control-Allow-Headers"))
		}
	}
	// A tampered payload is a client error, not a decoded one.
	enc[0].Data[5] ^= 1
	if _, err := remote.Decode(enc); err == nil {
		t.Error("remote decode of a tampered payload succeeded")
	}
}

// TestHandlerChecksHost refuses requests whose Host header names another site
// (DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1),
// and answers the listen address, the loopback names with its port, and hosts
// allowed explicitly.
func TestHandlerChecksHost(t *testing.T) {
	c := mustNew(t, newKeyBytes(t))
	srv := httptest.NewServer(HandlerWithHosts(c, []string{"http://localhost:8233"}, []string{"codec.internal:9999", "Proxy.Example"}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	enc, err := c.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"payloads": enc})
	for _, tc := range []struct {
		host string
		want int
	}{
		{u.Host, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST:" + port, http.StatusOK},
		{"127.0.0.1:" + port, http.StatusOK},
		{"codec.internal:9999", http.StatusOK},
		{"proxy.example:443", http.StatusOK},
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"localhost:1", http.StatusMisdirectedRequest},
		{"codec.internal:8080", http.StatusMisdirectedRequest},
		{"localhost.evil.example:" + port, http.StatusMisdirectedRequest},
	} {
		for _, method := range []string{http.MethodPost, http.MethodOptions} {
			req, _ := http.NewRequest(method, srv.URL+"/decode", bytes.NewReader(body))
			req.Host = tc.host
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := tc.want
			if method == http.MethodOptions && want == http.StatusOK {
				want = http.StatusNoContent
			}
			if resp.StatusCode != want {
				t.Errorf("%s with Host %q: %d, want %d", method, tc.host, resp.StatusCode, want)
			}
		}
	}
	// Without extra hosts the defaults still answer, other names do not.
	plain := httptest.NewServer(Handler(c, nil))
	defer plain.Close()
	req, _ := http.NewRequest(http.MethodPost, plain.URL+"/decode", bytes.NewReader(body))
	req.Host = "codec.internal:9999"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Handler without extra hosts answered Host codec.internal:9999 with %d", resp.StatusCode)
	}
}
