package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// pgServer is a throwaway PostgreSQL cluster: initdb in a temporary folder,
// password authentication over TCP on 127.0.0.1.
type pgServer struct {
	port     int
	password string
}

func (s pgServer) uri() string { return fmt.Sprintf("postgresql://127.0.0.1:%d/sales", s.port) }

// startPostgres starts Debian's PostgreSQL as scripts/multiprocess.sh does: as
// the postgres user when the test runs as root, since initdb refuses root.
func startPostgres(t *testing.T) pgServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql to run this test")
	}
	sort.Strings(bins)
	bin := filepath.Dir(bins[len(bins)-1])
	var as []string
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and there is no postgres user to run initdb as (initdb refuses root)")
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Skip("running as root without runuser to run initdb as the postgres user (initdb refuses root)")
		}
		as = []string{runuser, "-u", "postgres", "--"}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	// t.TempDir's parents are private to this user: the postgres user could
	// not reach a folder inside them.
	dir, err := os.MkdirTemp("", "meshflow-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	srv := pgServer{password: fmt.Sprintf("pw-%d-s3cret", os.Getpid())}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(srv.password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		if len(as) > 0 {
			cmd = exec.Command(as[0], append(as[1:], args...)...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Fatalf("%s: %v\n%s\n%s", strings.Join(args, " "), err, out, log)
		}
	}
	data := filepath.Join(dir, "data")
	run(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-E", "UTF8", "--no-sync",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	run(filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(dir, "postgres.log"),
		"-o", fmt.Sprintf("-p %d -h 127.0.0.1 -k %s -c fsync=off", srv.port, dir), "start")
	t.Cleanup(func() { run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop") })
	return srv
}

// exec runs SQL on the server as postgres, on database db.
func (s pgServer) exec(t *testing.T, db string, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/%s?sslmode=disable&password=%s", s.port, db, s.password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range sqls {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestPostgresInputs snapshots a table and a query of a real PostgreSQL into
// typed Parquet, with credentials from the libpq environment only, and fails
// clearly on a wrong password, a missing table and a URI with a password.
func TestPostgresInputs(t *testing.T) {
	srv := startPostgres(t)
	srv.exec(t, "postgres", "CREATE DATABASE sales")
	srv.exec(t, "sales",
		`CREATE TABLE public.orders (id bigint PRIMARY KEY, qty integer, note text, "order day" timestamp, created timestamptz,
			amount numeric(10,2), ratio double precision, paid boolean, raw bytea, d date, total numeric)`,
		`INSERT INTO public.orders VALUES
			(1, 3, 'plain', '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05+02', 12.50, 0.25, true, '\x0102ff', '2026-01-02', 1234567890.123456789),
			(2, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
			(3, -7, e'comma, "quote"\nnewline', '1999-12-31 23:59:59', '1999-12-31 23:59:59+00', -0.01, -1.5e300, false, '', '1999-12-31', -5)`)

	t.Setenv("PGUSER", "postgres")
	t.Setenv("PGPASSWORD", srv.password)
	t.Setenv("PGSSLMODE", "disable")
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none"))

	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := &Activities{Store: st, Scratch: t.TempDir(), Threads: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		PostgresHosts: []string{fmt.Sprintf("127.0.0.1:%d", srv.port), "127.0.0.1:1"}}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.Ingest)
	ingest := func(runID string, inputs ...refresh.Input) (refresh.IngestResult, error) {
		p := applyProducts(t, st, refresh.Product{Domain: "sales", Name: "orders", Inputs: inputs, SQL: "SELECT 1"})[0]
		v, err := env.ExecuteActivity(runAs(a, runID).Ingest, refresh.IngestInput{Product: p, RunID: runID})
		var res refresh.IngestResult
		if err == nil {
			err = v.Get(&res)
		}
		return res, err
	}

	res, err := ingest("run-1",
		refresh.Input{Name: "orders", URI: srv.uri(), Table: "public.orders", Format: refresh.FormatParquet},
		refresh.Input{Name: "big", URI: srv.uri(), Query: "SELECT id, amount * 2 AS doubled, note AS \"the note\" FROM orders WHERE id <> 2 ORDER BY id; -- two rows", Format: refresh.FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Inputs) != 2 || res.Inputs[0].Format != refresh.FormatParquet || len(res.Inputs[0].Objects) != 1 || res.Inputs[0].Objects[0].SHA256 == "" {
		t.Fatalf("staged inputs: %+v", res.Inputs)
	}

	var db *engine.DB
	load := func(name string, ref refresh.ObjectRef) []engine.Column {
		t.Helper()
		file := filepath.Join(t.TempDir(), name+".parquet")
		if err := a.download(context.Background(), ref, file); err != nil {
			t.Fatal(err)
		}
		db2, err := engine.Open(context.Background(), t.TempDir(), 1, "", 0, filepath.Dir(file))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db2.Close() })
		db = db2
		if err := db.LoadParquet(context.Background(), name, file); err != nil {
			t.Fatal(err)
		}
		cols, err := db.Columns(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return cols
	}
	cols := load("orders", res.Inputs[0].Objects[0])
	want := "id BIGINT, qty INTEGER, note VARCHAR, order day TIMESTAMP, created TIMESTAMP WITH TIME ZONE, amount DECIMAL(10,2), ratio DOUBLE, paid BOOLEAN, raw BLOB, d DATE, total DECIMAL(19,9)"
	if got := colText(cols); got != want {
		t.Errorf("table columns:\n got %s\nwant %s", got, want)
	}
	var got string
	q := `SELECT string_agg(concat_ws('|', id, coalesce(qty::VARCHAR, 'NULL'), coalesce(note, 'NULL'), coalesce("order day"::VARCHAR, 'NULL'),
		coalesce(epoch(created)::BIGINT::VARCHAR, 'NULL'), coalesce(amount::VARCHAR, 'NULL'), coalesce(hex(raw), 'NULL'), coalesce(total::VARCHAR, 'NULL')), ';' ORDER BY id) FROM orders`
	if err := db.QueryRow(q).Scan(&got); err != nil {
		t.Fatal(err)
	}
	wantRows := "1|3|plain|2026-01-02 03:04:05.123456|1767315845|12.50|0102FF|1234567890.123456789;" +
		"2|NULL||NULL|NULL|NULL|NULL|NULL;" +
		"3|-7|comma, \"quote\"\nnewline|1999-12-31 23:59:59|946684799|-0.01||-5.000000000"
	if got != wantRows {
		t.Errorf("table rows:\n got %q\nwant %q", got, wantRows)
	}
	cols = load("big", res.Inputs[1].Objects[0])
	if got, want := colText(cols), "id BIGINT, doubled DECIMAL(4,2), the note VARCHAR"; got != want {
		t.Errorf("query columns: got %s, want %s", got, want)
	}
	if n, err := db.Count(context.Background(), "big"); err != nil || n != 2 {
		t.Errorf("query rows: %d, %v; want 2", n, err)
	}

	// The password is nowhere: not in the staged objects, the result or the logs.
	payload, _ := json.Marshal(res)
	if strings.Contains(string(payload), srv.password) || strings.Contains(logs.String(), srv.password) {
		t.Errorf("the password leaks into the result or the logs:\n%s\n%s", payload, logs.String())
	}
	objs, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		r, _, err := st.Get(context.Background(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		_ = r.Close()
		if bytes.Contains(b.Bytes(), []byte(srv.password)) {
			t.Errorf("staged object %s holds the password", o.Key)
		}
	}

	t.Run("passfile", func(t *testing.T) {
		pass := filepath.Join(t.TempDir(), "pgpass")
		if err := os.WriteFile(pass, []byte(fmt.Sprintf("127.0.0.1:%d:*:postgres:%s\n", srv.port, srv.password)), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGPASSWORD", "")
		os.Unsetenv("PGPASSWORD")
		t.Setenv("PGPASSFILE", pass)
		if _, err := ingest("run-passfile", refresh.Input{Name: "orders", URI: srv.uri(), Table: "orders", Format: refresh.FormatParquet}); err != nil {
			t.Fatal(err)
		}
	})

	wrong := "wrong-" + srv.password
	for _, tc := range []struct {
		name, password string
		input          refresh.Input
		want           string
	}{
		{"wrong password", wrong, refresh.Input{Name: "orders", URI: srv.uri(), Table: "orders"},
			fmt.Sprintf(`input orders: PostgreSQL 127.0.0.1:%d/sales (user postgres): password authentication failed for user "postgres"; check PGUSER and PGPASSWORD or PGPASSFILE on the worker`, srv.port)},
		{"missing table", srv.password, refresh.Input{Name: "orders", URI: srv.uri(), Table: "public.nope"},
			fmt.Sprintf(`input orders: PostgreSQL 127.0.0.1:%d/sales (user postgres): relation "public.nope" does not exist`, srv.port)},
		{"password in the uri", srv.password, refresh.Input{Name: "orders", URI: fmt.Sprintf("postgresql://postgres:%s@127.0.0.1:%d/sales", srv.password, srv.port), Table: "orders"},
			`input orders: the PostgreSQL uri carries a password; the worker sets credentials, certificates and hosts in its environment (PGPASSWORD or PGPASSFILE, PGSSLMODE, …)`},
		{"a server the operator did not list", srv.password, refresh.Input{Name: "orders", URI: fmt.Sprintf("postgresql://localhost:%d/sales", srv.port+1), Table: "orders"},
			fmt.Sprintf(`input orders: PostgreSQL localhost:%d/sales (user postgres) is not among the PostgreSQL servers this worker may connect to (127.0.0.1:%d, 127.0.0.1:1); the worker's operator lists them in MESHFLOW_POSTGRES_HOSTS`, srv.port+1, srv.port)},
		{"a host parameter", srv.password, refresh.Input{Name: "orders", URI: srv.uri() + "?host=evil.example", Table: "orders"},
			`input orders: the PostgreSQL uri carries a "host" parameter; a spec may set only sslmode, connect_timeout, application_name; the worker sets credentials, certificates and hosts in its environment (PGPASSWORD or PGPASSFILE, PGSSLMODE, …)`},
		{"a write", srv.password, refresh.Input{Name: "orders", URI: srv.uri(), Query: "SELECT 1; DELETE FROM orders"},
			`input orders: the query holds more than one statement (a ; outside quotes)`},
		{"refused", srv.password, refresh.Input{Name: "orders", URI: "postgresql://127.0.0.1:1/sales", Table: "orders"},
			`input orders: PostgreSQL 127.0.0.1:1/sales (user postgres): the server refused the connection (is it running, and is the uri's host and port right?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PGPASSWORD", tc.password)
			tc.input.Format = refresh.FormatParquet
			_, err := ingest("run-"+strings.ReplaceAll(tc.name, " ", "-"), tc.input)
			appErr, ok := errors.AsType[*temporal.ApplicationError](err)
			if !ok || appErr.Type() != refresh.ErrBadInput || !appErr.NonRetryable() {
				t.Fatalf("got %v, want a non-retryable %s", err, refresh.ErrBadInput)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), srv.password) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
	if strings.Contains(logs.String(), srv.password) {
		t.Errorf("the logs hold the password:\n%s", logs.String())
	}
}

func colText(cols []engine.Column) string {
	var parts []string
	for _, c := range cols {
		parts = append(parts, c.Name+" "+c.Type)
	}
	return strings.Join(parts, ", ")
}
