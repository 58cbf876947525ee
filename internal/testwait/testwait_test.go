package testwait

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPollReturnsOnceCheckHolds(t *testing.T) {
	calls := 0
	err := Poll(time.Minute, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Poll: %v after %d calls, want nil after 3", err, calls)
	}
}

func TestPollReportsTheLastError(t *testing.T) {
	calls := 0
	started := time.Now()
	err := Poll(100*time.Millisecond, func() error {
		calls++
		return errors.New("stage " + strings.Repeat("i", calls))
	})
	if took := time.Since(started); took < 100*time.Millisecond || took > 10*time.Second {
		t.Errorf("Poll gave up after %s, want about 100ms", took)
	}
	want := "after 100ms: stage " + strings.Repeat("i", calls)
	if err == nil || err.Error() != want {
		t.Fatalf("Poll: %v, want %q", err, want)
	}
}

func TestForChecksAtOnce(t *testing.T) {
	started := time.Now()
	For(t, time.Minute, "a condition that holds", func() bool { return true })
	if took := time.Since(started); took >= Interval {
		t.Errorf("For took %s for a condition that holds at once", took)
	}
}
