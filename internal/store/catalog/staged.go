package catalog

import (
	"context"

	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/rules"
)

// MaxReportBytes bounds a quality report this package reads.
const MaxReportBytes = 8 << 20

// StagedReport returns the quality report a run staged for the steward's
// review: what its rules found before it asked for approval.
func StagedReport(ctx context.Context, st storage.Store, ref, runID string) (*rules.Report, error) {
	var rep rules.Report
	if _, err := readJSON(ctx, st, layout.StagedKey(ref, runID, layout.Report), &rep, MaxReportBytes); err != nil {
		return nil, err
	}
	return &rep, nil
}
