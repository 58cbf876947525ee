package outbox

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// TestOrderedStopsUnorderedGoesOn: an event that fails holds back the later
// ones of an ordered sender, and only itself in an unordered one; ErrWait
// keeps an event without a failure; a delivered event is not written again.
func TestOrderedStopsUnorderedGoesOn(t *testing.T) {
	ctx := context.Background()
	for _, ordered := range []bool{true, false} {
		st, err := storage.OpenLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		box := layout.Outbox{Root: "_test"}
		for _, run := range []string{"a", "b", "c"} {
			if err := Write(ctx, st, box, run, 1, []byte(`{"run":"`+run+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		s := &Sender{Store: st, Box: box, Ordered: ordered, Logger: slog.New(slog.DiscardHandler),
			Deliver: func(_ context.Context, ev Event) error {
				switch ev.RunID {
				case "a":
					return errors.New("down")
				case "b":
					return ErrWait
				}
				got = append(got, ev.RunID)
				return nil
			}}
		n, err := s.Once(ctx)
		left, _ := st.List(ctx, box.Prefix())
		switch {
		case ordered && (err == nil || n != 0 || len(got) != 0 || len(left) != 3):
			t.Errorf("ordered: %d sent, %v, delivered %v, %d left; want a stop at the first", n, err, got, len(left))
		case !ordered && (err == nil || n != 1 || len(got) != 1 || got[0] != "c" || len(left) != 2):
			t.Errorf("unordered: %d sent, %v, delivered %v, %d left; want c delivered, a and b kept", n, err, got, len(left))
		}
		if !ordered {
			// c was sent: a retried activity writes it no more.
			if err := Write(ctx, st, box, "c", 1, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Head(ctx, box.Key("c", 1)); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("a sent event was written again: %v", err)
			}
		}
	}
}
