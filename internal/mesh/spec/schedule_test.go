package spec

import (
	"testing"
	"time"
)

func TestScheduleOptions(t *testing.T) {
	okInput := "  - {name: orders, uri: file://data/o.csv}"
	dir := writeMesh(t, map[string]string{
		"mesh.yaml":         baseMesh,
		"sales/c.odcs.yaml": baseContract,
		"sales/a.yaml": productSpec("sales", "alpha", okInput) +
			"schedule: {cron: \"0 6 * * *\", timezone: Europe/Berlin, overlap: buffer-all, catchupWindow: 2h, jitter: 5m, paused: true}\n",
		"sales/b.yaml": productSpec("sales", "beta", okInput) + "schedule: {cron: \"*/30 * * * *\"}\n",
	})
	set, ds := Load(dir)
	if ds.HasErrors() {
		t.Fatalf("unexpected problems:\n%s", render(dir, ds))
	}
	a := set.Product("sales/alpha").Schedule
	want := Schedule{Cron: "0 6 * * *", Timezone: "Europe/Berlin", Overlap: OverlapBufferAll, CatchupWindow: 2 * time.Hour, Jitter: 5 * time.Minute, Paused: true}
	if *a != want {
		t.Errorf("alpha schedule %+v, want %+v", *a, want)
	}
	if a.OverlapPolicy() != OverlapBufferAll || a.Catchup() != 2*time.Hour {
		t.Errorf("alpha: overlap %q, catch-up %s", a.OverlapPolicy(), a.Catchup())
	}
	b := set.Product("sales/beta").Schedule
	if b.OverlapPolicy() != OverlapSkip || b.Catchup() != DefaultCatchupWindow || b.Jitter != 0 || b.Paused {
		t.Errorf("beta defaults: overlap %q, catch-up %s, jitter %s, paused %v", b.OverlapPolicy(), b.Catchup(), b.Jitter, b.Paused)
	}
}
