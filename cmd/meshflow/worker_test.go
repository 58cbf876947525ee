package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "20Gi": 20 << 30, "500Mi": 500 << 20, "2K": 2000, "1T": 1e12} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Gi", "-1Gi", "1.5Gi", "20GB", "99999999999Ti"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): want an error", in)
		}
	}
}

func TestCheckScratch(t *testing.T) {
	dir := t.TempDir()
	if w := checkScratch(dir, 1); w != "" {
		t.Errorf("1 byte needed: warning %q", w)
	}
	if w := checkScratch(dir, 1<<62); !strings.Contains(w, "less than --scratch-limit") {
		t.Errorf("4 EiB needed: warning %q, want one about --scratch-limit", w)
	}
}

func TestWorkerRefusesBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--task-queues", "q", "--max-activities", "0"},
		{"--task-queues", "q", "--max-sessions", "-1"},
		{"--task-queues", "q", "--stop-timeout", "-1s"},
		{"--task-queues", "q", "--scratch-limit", "lots"},
	} {
		var out, errOut bytes.Buffer
		err := runWorker(context.Background(), append(args, "--metrics-listen", ""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("worker %v: err %v, want a flag error", args, err)
		}
	}
}
