// Package sampledata generates the input data of the example mesh in
// examples/mesh: orders of the China and EMEA sales domains, FX rates of corporate
// finance, and supply chain shipments with the sensor readings of their trucks. The
// data is generated deterministically (a fixed seed), so every checkout and every
// test sees the same bytes; it looks real, including the dirty rows a warning rule
// should catch (mistyped e-mail addresses, a truck whose cooling fails).
package sampledata

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Files lists the generated files, relative to the mesh folder.
var Files = []string{
	"data/sales-china/orders.csv",
	"data/sales-emea/orders.jsonl",
	"data/finance/fx.csv",
	"data/supply-chain/shipments.csv",
	"data/supply-chain/truck-sensors.jsonl",
}

// Start is the first day of the generated data.
var Start = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)

// Days is how many days the data covers.
const Days = 60

// Generate writes every file of Files below meshDir.
func Generate(meshDir string) error {
	gens := []func(*bufio.Writer) error{chinaOrders, emeaOrders, fxRates, shipmentsCSV, sensorReadings}
	for i, rel := range Files {
		if err := writeFile(filepath.Join(meshDir, rel), gens[i]); err != nil {
			return fmt.Errorf("generate %s: %w", rel, err)
		}
	}
	return nil
}

func writeFile(path string, gen func(*bufio.Writer) error) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	if err := gen(w); err != nil {
		return err
	}
	return w.Flush()
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6d657368666c6f77)) }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func chinaOrders(w *bufio.Writer) error {
	r := rng(1)
	cities := []string{"Shanghai", "Beijing", "Shenzhen", "Guangzhou", "Chengdu", "Hangzhou"}
	prices := make([]float64, 40)
	for i := range prices {
		prices[i] = math.Round((20+r.Float64()*480)*100) / 100
	}
	fmt.Fprintln(w, "order_id,order_date,city,sku,quantity,unit_price_cny,discount_pct,customer_id")
	for i := range 4000 {
		day := Start.AddDate(0, 0, r.IntN(Days))
		sku := r.IntN(len(prices))
		discount := 0
		if day.Day() == 11 || day.Weekday() == time.Saturday { // local promotions
			discount = pick(r, []int{5, 10, 15})
		}
		fmt.Fprintf(w, "CN-%06d,%s,%s,SKU-%04d,%d,%.2f,%d,C%05d\n", i+1, day.Format(time.DateOnly),
			pick(r, cities), sku+1, 1+r.IntN(20), prices[sku], discount, r.IntN(30000))
	}
	return nil
}

type emeaOrder struct {
	OrderID       string  `json:"order_id"`
	OrderTS       string  `json:"order_ts"`
	Country       string  `json:"country"`
	City          string  `json:"city"`
	SKU           string  `json:"sku"`
	Quantity      int     `json:"quantity"`
	UnitPriceEUR  float64 `json:"unit_price_eur"`
	CustomerEmail *string `json:"customer_email,omitempty"`
}

func emeaOrders(w *bufio.Writer) error {
	r := rng(2)
	places := [][2]string{{"DE", "Berlin"}, {"DE", "Munich"}, {"FR", "Paris"}, {"FR", "Lyon"}, {"IT", "Milan"},
		{"ES", "Madrid"}, {"NL", "Amsterdam"}, {"GB", "London"}, {"AE", "Dubai"}, {"ZA", "Johannesburg"}}
	first := []string{"anna", "jean", "marco", "lucia", "pieter", "sophie", "omar", "thabo", "emma", "lukas"}
	last := []string{"schmidt", "dupont", "rossi", "garcia", "devries", "martin", "haddad", "nkosi", "smith", "weber"}
	domains := []string{"gmail.com", "web.de", "orange.fr", "libero.it", "outlook.com", "acme-partner.co.uk"}
	enc := json.NewEncoder(w)
	for i := range 4000 {
		p := pick(r, places)
		ts := Start.Add(time.Duration(r.IntN(Days*24*60)) * time.Minute)
		o := emeaOrder{
			OrderID: fmt.Sprintf("EU-%06d", i+1), OrderTS: ts.Format(time.RFC3339), Country: p[0], City: p[1],
			SKU: fmt.Sprintf("SKU-%04d", 1+r.IntN(40)), Quantity: 1 + r.IntN(10),
			UnitPriceEUR: math.Round((3+r.Float64()*70)*100) / 100,
		}
		f, l, d := pick(r, first), pick(r, last), pick(r, domains)
		var email string
		switch x := r.IntN(100); {
		case x < 5: // no contact on file
		case x < 6:
			email = f + "." + l + "@" + d[:len(d)-4] // the top-level domain is missing
		case x < 7:
			email = f + " " + l + "@" + d // a space slipped in
		case x < 8:
			email = f + "." + l + "@@" + d
		default:
			email = f + "." + l + "@" + d
		}
		if email != "" {
			o.CustomerEmail = &email
		}
		if err := enc.Encode(o); err != nil {
			return err
		}
	}
	return nil
}

func fxRates(w *bufio.Writer) error {
	r := rng(3)
	cny, eur := 0.1405, 1.0850
	fmt.Fprintln(w, "day,currency,usd_rate")
	for d := range Days {
		day := Start.AddDate(0, 0, d).Format(time.DateOnly)
		cny *= 1 + (r.Float64()-0.5)*0.004
		eur *= 1 + (r.Float64()-0.5)*0.008
		fmt.Fprintf(w, "%s,CNY,%.6f\n%s,EUR,%.6f\n", day, cny, day, eur)
	}
	return nil
}

// shipment is one generated trip; readings are generated for the same trips.
type shipment struct {
	id, truck, origin, destination string
	depart, promised, delivered    time.Time
}

func shipments() []shipment {
	r := rng(4)
	sites := []string{"Rotterdam DC", "Duisburg Hub", "Lyon Cross-dock", "Milan DC", "Madrid Hub", "Poznan DC"}
	var out []shipment
	for t := range 20 {
		truck := fmt.Sprintf("TRK-%02d", t+1)
		at := Start.Add(time.Duration(r.IntN(12)) * time.Hour)
		for at.Before(Start.AddDate(0, 0, Days)) && len(out) < 300 {
			dur := time.Duration(4+r.IntN(20)) * time.Hour
			delay := time.Duration(r.NormFloat64()*45) * time.Minute
			o := pick(r, sites)
			d := pick(r, sites)
			for d == o {
				d = pick(r, sites)
			}
			s := shipment{id: fmt.Sprintf("SHP-%05d", len(out)+1), truck: truck, origin: o, destination: d,
				depart: at, promised: at.Add(dur), delivered: at.Add(dur + delay).Truncate(time.Minute)}
			out = append(out, s)
			at = s.delivered.Add(time.Duration(12+r.IntN(48)) * time.Hour)
		}
	}
	return out
}

func shipmentsCSV(w *bufio.Writer) error {
	const layout = time.DateTime
	fmt.Fprintln(w, "shipment_id,truck_id,origin,destination,depart_ts,promised_ts,delivered_ts")
	for _, s := range shipments() {
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%s\n", s.id, s.truck, s.origin, s.destination,
			s.depart.Format(layout), s.promised.Format(layout), s.delivered.Format(layout))
	}
	return nil
}

type reading struct {
	TruckID      string  `json:"truck_id"`
	TS           string  `json:"ts"`
	TemperatureC float64 `json:"temperature_c"`
	SpeedKMH     float64 `json:"speed_kmh"`
}

func sensorReadings(w *bufio.Writer) error {
	r := rng(5)
	enc := json.NewEncoder(w)
	for _, s := range shipments() {
		failing := s.truck == "TRK-07" && r.IntN(3) == 0 // this truck's cooling unit is failing
		temp := 3 + r.Float64()*2
		for at := s.depart; !at.After(s.delivered); at = at.Add(30 * time.Minute) {
			temp += (r.Float64() - 0.5) * 0.6
			if failing {
				temp += 0.4
			}
			temp = math.Max(1.5, temp)
			rd := reading{TruckID: s.truck, TS: at.Format(time.DateTime), TemperatureC: math.Round(temp*10) / 10,
				SpeedKMH: math.Round(60+r.Float64()*30) * 1}
			if err := enc.Encode(rd); err != nil {
				return err
			}
		}
	}
	return nil
}
