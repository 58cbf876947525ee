package contract

import (
	"strings"
	"testing"
	"time"
)

func TestFreshnessSLA(t *testing.T) {
	for _, tc := range []struct {
		props []SLAProperty
		want  time.Duration
		err   string
	}{
		{props: []SLAProperty{{Property: "frequency", Value: int64(1), Unit: "d"}, {Property: "latency", Value: int64(4), Unit: "h"}}, want: 28 * time.Hour},
		{props: []SLAProperty{{Property: "latency", Value: 30.0, Unit: "minutes"}}, want: 30 * time.Minute},
		{props: []SLAProperty{{Property: "retention", Value: int64(1), Unit: "y"}}, want: 0},
		{props: []SLAProperty{{Property: "frequency", Value: "2", Unit: "h"}}, want: 2 * time.Hour},
		{props: []SLAProperty{{Property: "frequency", Value: int64(1), Unit: "fortnight"}}, err: `unit "fortnight"`},
		{props: []SLAProperty{{Property: "frequency", Value: true, Unit: "d"}}, err: "not a number"},
		{props: []SLAProperty{{Property: "latency", Value: int64(3)}}, err: "no unit"},
		{props: []SLAProperty{{Property: "frequency", Value: int64(-1), Unit: "d"}}, err: "negative"},
		{props: []SLAProperty{{Property: "freshness", Value: int64(1), Unit: "d"}}, want: 0},
	} {
		got, err := (&Contract{SLAProperties: tc.props}).FreshnessSLA()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("FreshnessSLA(%+v) error = %v, want %q", tc.props, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("FreshnessSLA(%+v) = %v, %v; want %v", tc.props, got, err, tc.want)
		}
	}
}

// TestGlossaryTermsWalksItems checks that terms on nested properties and on the
// items of arrays are found, once each, sorted.
func TestGlossaryTermsWalksItems(t *testing.T) {
	c := &Contract{Schema: []*Object{{Name: "orders", Properties: []*Property{
		{Name: "id", GlossaryTerm: "order-id"},
		{Name: "customer", Properties: []*Property{{Name: "email", GlossaryTerm: "email"}}},
		{Name: "lines", Items: &Property{Name: "line", Properties: []*Property{{Name: "sku", GlossaryTerm: "sku"}, {Name: "again", GlossaryTerm: "order-id"}}}},
	}}}}
	got := c.GlossaryTerms()
	if want := []string{"email", "order-id", "sku"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("GlossaryTerms() = %v, want %v", got, want)
	}
}
