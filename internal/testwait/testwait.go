// Package testwait polls a condition in tests until it holds or a deadline
// passes, instead of sleeping for a guessed time.
//
// The package imports only the standard library, so that any test may use it
// without linking more than it already does.
package testwait

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Interval is how often For and Poll check their condition.
const Interval = 50 * time.Millisecond

// For checks cond at once and then every Interval until it holds, and fails
// the test with what it waited for when within passes first.
func For(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	err := Poll(within, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", within, what)
	}
}

// errNotYet is For's error while its condition does not hold.
var errNotYet = errors.New("not yet")

// Poll calls check at once and then every Interval until it returns nil, and
// returns nil. When within passes first, it returns check's last error,
// wrapped with the time waited.
func Poll(within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", within, err)
		}
		<-tick.C
	}
}
