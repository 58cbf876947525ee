package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/meshflow/meshflow/internal/http/api"
)

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("query", stderr)
	var actor actorFlags
	actor.register(fs, "principal who reads")
	format := fs.String("format", "", `answer format: json, csv or parquet (default: a table on the terminal; parquet needs --out)`)
	limit := fs.Int("limit", 0, "at most this many rows (default: the server's)")
	out := fs.String("out", "", "write the answer to this file instead of stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: meshflow query [flags] "<sql>"

Runs one SELECT, through meshflow serve, over the products you may read, named as quoted
identifiers: SELECT * FROM "finance/global-kpis", or "finance/global-kpis@1.2.0" for one version.`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	sql, err := oneArg(fs, `SQL, e.g. 'SELECT * FROM "finance/global-kpis"'`)
	if err != nil {
		return err
	}
	if *format == api.QueryParquet && *out == "" {
		return fmt.Errorf("--format parquet writes binary data: name a file with --out")
	}
	srv, err := actor.client()
	if err != nil {
		return err
	}
	table := *format == ""
	req := api.QueryRequest{SQL: sql, Format: *format, Limit: *limit}
	if table {
		req.Format = api.QueryJSON
	}
	var buf bytes.Buffer
	var w io.Writer = &buf
	var f *os.File
	if *out != "" && !table {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		w = f
	} else if !table {
		w = stdout
	}
	truncated, err := srv.Query(ctx, req, w)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	if table {
		dst := stdout
		if *out != "" {
			if f, err = os.Create(*out); err != nil {
				return err
			}
			defer f.Close()
			dst = f
		}
		cut, err := printTable(buf.Bytes(), dst)
		if err != nil {
			return err
		}
		truncated = truncated || cut
	}
	if truncated {
		fmt.Fprintln(stderr, "meshflow: the answer was cut at the row limit; raise --limit or narrow the query")
	}
	return nil
}

// printTable prints a JSON query answer as aligned columns and reports whether
// the answer was cut at the row limit.
func printTable(b []byte, w io.Writer) (bool, error) {
	var res api.QueryResult
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return false, fmt.Errorf("read the answer to the query: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	for _, row := range res.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			switch x := v.(type) {
			case nil:
				cells[i] = "NULL"
			case string:
				cells[i] = x
			case json.Number, bool:
				cells[i] = fmt.Sprint(x)
			default:
				j, _ := json.Marshal(x)
				cells[i] = string(j)
			}
			cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cells[i])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return res.Truncated, tw.Flush()
}
