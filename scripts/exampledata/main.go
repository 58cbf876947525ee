// Command exampledata writes the generated data of the example mesh's
// partitioned product, supply-chain/daily-deliveries: one CSV file of deliveries
// per day from 2026-06-01 to 2026-09-30, in day=YYYY-MM-DD folders. The data is
// deterministic, so the files in git are what it writes:
//
//	go run ./scripts/exampledata examples/mesh/data/supply-chain/deliveries
//
// A few deliveries arrive in the next day's file, as late data does; the
// product's partition check sets them aside with the reason.
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: exampledata <folder>")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "exampledata:", err)
		os.Exit(1)
	}
}

var (
	lanes    = []string{"Milan DC > Poznan DC", "Madrid Hub > Milan DC", "Rotterdam DC > Milan DC", "Duisburg Hub > Lyon DC"}
	carriers = []string{"Alpina Freight", "Nordic Haul", "Iberia Trans"}
)

func write(dir string) error {
	rng := rand.New(rand.NewPCG(2026, 6))
	first := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	n := 0
	for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
		var b strings.Builder
		b.WriteString("delivery_id,lane,carrier,delivered_at,delay_minutes\n")
		for i := range 12 + rng.IntN(8) {
			n++
			at := day.Add(time.Duration(6*60+rng.IntN(15*60)) * time.Minute)
			if i == 0 && day.Day() == 15 {
				at = day.AddDate(0, 0, 1).Add(30 * time.Minute) // late: the next day's delivery, filed today
			}
			fmt.Fprintf(&b, "DLV-%06d,%s,%s,%s,%d\n", n, lanes[rng.IntN(len(lanes))], carriers[rng.IntN(len(carriers))],
				at.Format("2006-01-02 15:04:05"), rng.IntN(180)-30)
		}
		folder := filepath.Join(dir, "day="+day.Format("2006-01-02"))
		if err := os.MkdirAll(folder, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(folder, "deliveries.csv"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
