package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/internal/refresh"
)

// Reject is an input line set aside because it cannot be read as a row: a CSV
// record with the wrong number of fields or broken quoting, or a JSON line that
// is not one object.
type Reject struct {
	Input string
	// File is the 1-based number of the input's file, Line the 1-based line in
	// it where the record starts.
	File  int
	Line  int64
	Error string
	// Raw is the line as read (at most maxRawBytes), or the record's fields
	// joined by the delimiter when the line itself cannot be recovered.
	Raw string
}

// maxRawBytes bounds the text of a rejected line kept in the quarantine.
const maxRawBytes = 1 << 10

// RejectsTable is the table LoadInput collects rejected lines in, when any
// input quarantines its bad rows.
const RejectsTable = "meshflow_rejects"

// splitBadRows copies each file without its unreadable records next to it
// (uncompressed, as readable.<name>) and returns the copies with the records it
// set aside. Only CSV and JSON lines are split; a JSON file holding one array is
// read whole or not at all.
func splitBadRows(in Input, maxBytes int64) ([]string, []Reject, error) {
	left := &budget{left: maxBytes, limited: maxBytes > 0}
	var out []string
	var rejects []Reject
	for i, f := range in.Files {
		base := filepath.Base(f)
		base = strings.TrimSuffix(base, refresh.CompressionOfName(base))
		dst := filepath.Join(filepath.Dir(f), "readable."+base)
		var rs []Reject
		var err error
		switch in.Format {
		case refresh.FormatCSV:
			rs, err = splitCSV(f, dst, in, left)
		case refresh.FormatJSON:
			var isArray bool
			if isArray, err = jsonIsArray(f); err == nil && isArray {
				out = append(out, f)
				continue
			}
			if err == nil {
				rs, err = splitJSONLines(f, dst, left)
			}
		default:
			out = append(out, f)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("file %d of %d: %w", i+1, len(in.Files), err)
		}
		for j := range rs {
			rs[j].Input, rs[j].File = in.Name, i+1
		}
		rejects = append(rejects, rs...)
		out = append(out, dst)
	}
	return out, rejects, nil
}

func splitCSV(src, dst string, in Input, left *budget) ([]Reject, error) {
	f, err := openDecompressed(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	delim := ','
	if d := []rune(in.Delimiter); len(d) == 1 {
		delim = d[0]
	}
	r := csv.NewReader(bufio.NewReaderSize(&lineGuard{r: f}, 1<<20))
	r.Comma = delim
	r.FieldsPerRecord = 0 // the first record sets the count
	out, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	bw := bufio.NewWriterSize(left.writer(out), 1<<20)
	w := csv.NewWriter(bw)
	w.Comma = delim
	var rejects []Reject
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			raw := strings.Join(rec, string(delim))
			rejects = append(rejects, Reject{Line: int64(pe.StartLine), Error: pe.Err.Error(), Raw: truncate(raw)})
			if len(rejects) > maxRejects {
				return nil, fmt.Errorf("more than %d unreadable records; the file is not %s (check its delimiter and quoting)", maxRejects, in.Format)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	return rejects, bw.Flush()
}

func splitJSONLines(src, dst string, left *budget) ([]Reject, error) {
	f, err := openDecompressed(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	bw := bufio.NewWriterSize(left.writer(out), 1<<20)
	br := bufio.NewReaderSize(&lineGuard{r: f}, 1<<20)
	var rejects []Reject
	for n := int64(1); ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			trimmed := bytes.TrimSpace(line)
			switch {
			case len(trimmed) == 0:
			case !json.Valid(trimmed):
				rejects = append(rejects, Reject{Line: n, Error: "not valid JSON", Raw: truncate(string(trimmed))})
			case trimmed[0] != '{':
				rejects = append(rejects, Reject{Line: n, Error: "not a JSON object", Raw: truncate(string(trimmed))})
			default:
				if _, err := bw.Write(append(trimmed, '\n')); err != nil {
					return nil, err
				}
			}
			if len(rejects) > maxRejects {
				return nil, fmt.Errorf("more than %d unreadable lines; the file is not JSON lines", maxRejects)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return rejects, bw.Flush()
}

// maxRejects bounds the lines one file may set aside: past it, the file is
// taken for the wrong format rather than for one with a few bad lines.
const maxRejects = 10000

func truncate(s string) string {
	if len(s) <= maxRawBytes {
		return s
	}
	return s[:maxRawBytes] + "…"
}

// storeRejects appends rejected lines to RejectsTable, creating it.
func (d *DB) storeRejects(ctx context.Context, rejects []Reject) error {
	if _, err := d.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+RejectsTable+
		" (input VARCHAR, file INTEGER, line BIGINT, error VARCHAR, raw VARCHAR)"); err != nil {
		return err
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO "+RejectsTable+" VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, r := range rejects {
		if _, err := stmt.ExecContext(ctx, r.Input, r.File, r.Line, r.Error, r.Raw); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ErrCopyTooLarge says that the readable copies of an input outgrew
// Input.MaxCopyBytes.
var ErrCopyTooLarge = errors.New("the readable copy of the input outgrew the scratch this run may use")

// budget counts down the bytes the readable copies may still take.
type budget struct {
	left    int64
	limited bool
}

func (b *budget) writer(w io.Writer) io.Writer { return budgetWriter{w: w, b: b} }

type budgetWriter struct {
	w io.Writer
	b *budget
}

func (w budgetWriter) Write(p []byte) (int, error) {
	if w.b.limited {
		if int64(len(p)) > w.b.left {
			return 0, ErrCopyTooLarge
		}
		w.b.left -= int64(len(p))
	}
	return w.w.Write(p)
}

// MaxLineBytes bounds one line of a CSV or JSON lines input: a longer line is not
// a row anyone meant, and reading it whole could take the worker's memory.
const MaxLineBytes = 64 << 20

// ErrLineTooLong says that a line of an input is longer than MaxLineBytes.
var ErrLineTooLong = fmt.Errorf("a line is longer than %d MiB", MaxLineBytes>>20)

// lineGuard fails a read once more than MaxLineBytes pass without a newline.
type lineGuard struct {
	r   io.Reader
	run int64
}

func (g *lineGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			g.run = 0
		} else if g.run++; g.run > MaxLineBytes {
			return 0, ErrLineTooLong
		}
	}
	return n, err
}
