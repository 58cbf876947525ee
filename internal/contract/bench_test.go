package contract

import (
	"os"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile("testdata/full.odcs.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var ds diag.List
		Load("full.odcs.yaml", data, &ds)
	}
}
