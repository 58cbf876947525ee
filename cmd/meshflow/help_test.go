package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpExitsZero: -h and --help of every command, and of the subcommands of
// the commands that have them, print a usage and succeed; a bad flag still fails.
func TestHelpExitsZero(t *testing.T) {
	var cmds [][]string
	for _, c := range commands() {
		cmds = append(cmds, []string{c.name})
	}
	cmds = append(cmds, []string{"catalog", "list"}, []string{"catalog", "show"}, []string{"catalog", "audit"}, []string{"catalog", "export"},
		[]string{"access", "request"}, []string{"access", "approve"}, []string{"access", "revoke"},
		[]string{"schedule", "list"}, []string{"schedule", "pause"}, []string{"token", "new"}, []string{"keys", "new"})
	for _, c := range cmds {
		for _, h := range []string{"-h", "--help"} {
			var out, errOut bytes.Buffer
			if err := run(t.Context(), append(c, h), &out, &errOut); err != nil {
				t.Errorf("meshflow %s %s: %v", strings.Join(c, " "), h, err)
			}
			if out.Len()+errOut.Len() == 0 {
				t.Errorf("meshflow %s %s printed nothing", strings.Join(c, " "), h)
			}
		}
	}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"validate", "--no-such-flag"}, &out, &errOut); err == nil {
		t.Error("a bad flag succeeded")
	}
}
