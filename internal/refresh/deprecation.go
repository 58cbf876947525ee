package refresh

import (
	"fmt"
	"time"
)

// DateLayout is how a deprecation's date is written: 2027-03-01.
const DateLayout = time.DateOnly

// Deprecation is a major version of a product that its owner or a steward
// deprecated: consumers pinned to it are warned until its date and fail from
// then on. It is stored as layout.DeprecationKey.
type Deprecation struct {
	// Product is "<domain>/<name>" and Major the deprecated major version.
	Product string `json:"product"`
	Major   int    `json:"major"`
	// On is the date (DateLayout, UTC) from which pinned consumers' runs fail.
	On string `json:"on"`
	// Note says why, and what to move to.
	Note string `json:"note,omitempty"`
	// By is the authenticated principal who deprecated it, At when.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Date returns the start of the day On, UTC; ParseDeprecationDate checked it.
func (d Deprecation) Date() time.Time {
	t, _ := time.Parse(DateLayout, d.On)
	return t
}

// Past reports whether the deprecation's date has come at now.
func (d Deprecation) Past(now time.Time) bool { return !now.Before(d.Date()) }

// Pin returns "<product>@<major>".
func (d Deprecation) Pin() string { return fmt.Sprintf("%s@%d", d.Product, d.Major) }

// Warning says, for an input pinned to the major, what the deprecation
// means, as in "aviation/airports@1 is deprecated on 2027-03-01: …".
func (d Deprecation) Warning() string {
	msg := fmt.Sprintf("%s is deprecated on %s", d.Pin(), d.On)
	if d.Note != "" {
		msg += ": " + d.Note
	}
	return msg
}

// ParseDeprecationDate checks a deprecation date as DateLayout.
func ParseDeprecationDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return t, fmt.Errorf("deprecation date %q is not a date as YYYY-MM-DD (such as 2027-03-01)", s)
	}
	return t, nil
}

// DeprecatedInput is an input of a run pinned to a deprecated major, as the
// run's status and manifest show it.
type DeprecatedInput struct {
	Input       string `json:"input"`
	Deprecation `json:"deprecation"`
}
