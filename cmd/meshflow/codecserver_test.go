package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/temporal/codec"
	"github.com/meshflow/meshflow/internal/testwait"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func TestCodecServer(t *testing.T) {
	raw := make([]byte, codec.KeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MESHFLOW_CODEC_KEY", base64.StdEncoding.EncodeToString(raw))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runCodecServer(ctx, []string{"--listen", addr}, &out, &errOut) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("codec-server: %v (%s)", err, errOut.String())
		}
	}()

	cd, err := codec.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := converter.GetDefaultDataConverter().ToPayload("li.wei@acme.example")
	enc, err := cd.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: "http://" + addr})
	var dec []*commonpb.Payload
	if err := testwait.Poll(10*time.Second, func() error {
		var err error
		dec, err = remote.Decode(enc)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dec[0].Data), "li.wei") {
		t.Errorf("decoded %q", dec[0].Data)
	}
}

func TestCodecServerNeedsAKey(t *testing.T) {
	t.Setenv("MESHFLOW_CODEC_KEY", "")
	t.Setenv("MESHFLOW_CODEC_KEY_FILE", "")
	err := runCodecServer(context.Background(), []string{"--listen", "127.0.0.1:0"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no codec key") {
		t.Errorf("err %v, want no codec key", err)
	}
}
