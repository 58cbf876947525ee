package activities

import (
	"context"
	"fmt"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/rules"
)

// productHistory reads the history the dataset rules and the anomaly checks
// compare a candidate with: the quality of the latest published versions of
// the product, at most rules.HistoryVersions, newest first, from their
// manifests (a partitioned version's manifest holds the figures of the whole
// version). It returns nil for a product never published.
func (a *Activities) productHistory(ctx context.Context, ref string) (*rules.History, error) {
	head, found, err := catalog.ReadLatest(ctx, a.Store, ref)
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", ref, err)
	}
	if !found {
		return nil, nil
	}
	var obs []rules.Observation
	seen := map[string]bool{}
	for m := head.Manifest; ; {
		if seen[m.Version] {
			return nil, fmt.Errorf("read the history of %s: the manifests' previous versions loop at %s", ref, m.Version)
		}
		seen[m.Version] = true
		obs = append(obs, observe(m.Version, m.Quality))
		if m.Previous == "" || len(obs) == rules.HistoryVersions {
			break
		}
		if m, err = catalog.ReadManifest(ctx, a.Store, ref, m.Previous); err != nil {
			return nil, fmt.Errorf("read the history of %s: %w", ref, err)
		}
	}
	return rules.NewHistory(obs), nil
}

// observe is what history keeps of a version's quality: the rows in (the
// rows its rules saw), each column's null fraction over the rows out (its
// statistics are over the published rows) and numeric columns' minimum and
// maximum.
func observe(version string, q refresh.Quality) rules.Observation {
	o := rules.Observation{Version: version, Rows: q.RowsIn, Columns: map[string]rules.ColumnObservation{}}
	for _, c := range q.Columns {
		co := rules.ColumnObservation{Min: c.Min, Max: c.Max}
		if q.RowsOut > 0 {
			f := float64(c.Nulls) / float64(q.RowsOut)
			co.NullFraction = &f
		}
		o.Columns[c.Name] = co
	}
	return o
}

// addAnomalies adds to rep the built-in anomaly warnings of a candidate whose
// quality is q, unless the contract turns them off (rules.AnomalyProperty).
func addAnomalies(rep *rules.Report, c *contract.Contract, hist *rules.History, q refresh.Quality) {
	if !rules.AnomaliesEnabled(c, &diag.List{}) {
		return
	}
	rep.AddAnomalies(hist.Anomalies(observe("", q)))
}

// anomalies returns the report's anomalies as the quality summary carries them.
func anomalies(rep *rules.Report) []refresh.Anomaly {
	var out []refresh.Anomaly
	for _, x := range rep.Anomalies {
		out = append(out, refresh.Anomaly{Rule: x.ID(), Metric: x.Metric, Column: x.Column, Value: x.Value, Median: x.Median,
			MAD: x.MAD, Score: x.Score, Versions: x.Versions, Message: x.Message})
	}
	return out
}
