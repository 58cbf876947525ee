package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
)

func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage: meshflow catalog list [--store …] | meshflow catalog show [--store …] [--json] <domain>/<product>\n" +
		"       meshflow catalog audit [--store …] [--json] [<domain>/<product> …]\n" +
		"       meshflow catalog gc [--store …] --keep N [--dry-run] [--json] <domain>/<product>\n" +
		"       meshflow catalog export [--store …] [--mesh …] [--public-url …] [--json] --format odps <domain>/<product>"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	if len(args) == 0 || !slices.Contains([]string{"list", "show", "audit", "gc", "export"}, args[0]) {
		fmt.Fprintln(stderr, usage)
		return exitError{2}
	}
	sub := args[0]
	if sub == "export" {
		return runCatalogExport(ctx, args[1:], stdout, stderr)
	}
	fs := newFlags("catalog "+sub, stderr)
	var sf storeFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	term := fs.String("term", "", "list only products with a column linked to this glossary term (or one of its synonyms)")
	mesh := fs.String("mesh", defaultMesh(), "mesh folder, for the glossary's synonyms")
	keep := fs.Int("keep", 0, "gc: keep the data of the newest N versions; older versions are retired (their manifests stay)")
	dryRun := fs.Bool("dry-run", false, "gc: say what would be removed, remove nothing")
	if err := parse(fs, args[1:]); err != nil {
		return flagError(err)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	if sub == "audit" {
		return runAudit(ctx, st, fs.Args(), *asJSON, stdout)
	}
	if sub == "gc" {
		ref, err := oneArg(fs, "product as <domain>/<product>")
		if err != nil {
			return err
		}
		return runGC(ctx, st, ref, *keep, *dryRun, *asJSON, stdout)
	}
	if sub == "list" {
		entries, refused, err := catalog.ListChecked(ctx, st)
		if err != nil {
			return err
		}
		for _, r := range refused {
			fmt.Fprintf(stderr, "warning: not listed: %v (run meshflow catalog audit)\n", r)
		}
		if *term != "" {
			if entries, err = byTerm(ctx, st, entries, *term, *mesh); err != nil {
				return err
			}
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(entries)
		}
		if len(entries) == 0 {
			fmt.Fprintln(stdout, "nothing published yet in", st.URI(""))
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PRODUCT\tVERSION\tPUBLISHED\tROWS\tQUARANTINED\tWARNINGS\tVERSIONS")
		for _, e := range entries {
			m := e.Latest
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", e.Ref, m.Version, m.PublishedAt.Local().Format("2006-01-02 15:04"), m.Quality.RowsOut, m.Quality.Quarantined, m.Quality.Warnings, len(e.Versions))
		}
		return tw.Flush()
	}
	ref, err := oneArg(fs, "product as <domain>/<product>")
	if err != nil {
		return err
	}
	e, err := catalog.Show(ctx, st, ref)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	m := e.Latest
	fmt.Fprintf(stdout, "%s %s (published %s by run %s)\n", e.Ref, m.Version, m.PublishedAt.Local().Format("2006-01-02 15:04:05"), m.RunID)
	if m.Submitter != "" {
		fmt.Fprintf(stdout, "  requested   by %s (%s)\n", m.Submitter, m.Reason)
	}
	objs, err := catalog.DataObjects(ctx, st, m)
	if err != nil {
		return err
	}
	if ps := m.Partitions; ps != nil {
		fmt.Fprintf(stdout, "  partitions  %d by %s (%s), %s to %s: %s\n", ps.Total, ps.By, ps.Column, ps.First, ps.Last, ps.Words())
		fmt.Fprintf(stdout, "  index       %s (sha256 %s)\n", st.URI(ps.Index.Key), ps.Index.SHA256)
	} else {
		fmt.Fprintf(stdout, "  data        %s (%d bytes, sha256 %s)\n", st.URI(m.Data.Key), m.Data.Size, m.Data.SHA256)
	}
	fmt.Fprintf(stdout, "  read        %s\n", catalog.ReadSQL(st, objs))
	fmt.Fprintf(stdout, "  rows        %d published, %d quarantined of %d\n", m.Quality.RowsOut, m.Quality.Quarantined, m.Quality.RowsIn)
	if m.Quality.Rejected > 0 {
		fmt.Fprintf(stdout, "  rejected    %d input lines that were not rows, in %s\n", m.Quality.Rejected, st.URI(m.Quality.Rejects.Key))
	}
	var cols []string
	for _, c := range m.Columns {
		cols = append(cols, c.Name+" "+c.Type)
	}
	fmt.Fprintf(stdout, "  columns     %s\n", strings.Join(cols, ", "))
	for _, in := range m.Inputs {
		src := in.Source
		if in.SourceVersion != "" {
			src += " " + in.SourceVersion
		}
		fmt.Fprintf(stdout, "  input       %s ← %s\n", in.Name, src)
	}
	for _, a := range m.Approvals {
		fmt.Fprintf(stdout, "  approval    %s by %s: %s\n", a.Decision, a.Principal, a.Comment)
	}
	for _, r := range m.Quality.Rules {
		switch {
		case r.IsAnomaly():
			fmt.Fprintf(stdout, "  anomaly     %s\n", r.Message)
		case r.Status == "skipped":
			fmt.Fprintf(stdout, "  rule        %s skipped: %s\n", r.ID, strings.TrimPrefix(r.Message, "skipped: "))
		case r.Status != "pass":
			fmt.Fprintf(stdout, "  rule        %s %s: %d failing rows\n", r.ID, r.Status, r.Failing)
		}
	}
	fmt.Fprintf(stdout, "  versions    %s\n", strings.Join(e.Versions, ", "))
	return nil
}

// byTerm keeps the entries whose published contract links a column to the term;
// the mesh's glossary turns a synonym into its term.
func byTerm(ctx context.Context, st storage.Store, entries []catalog.Entry, term, mesh string) ([]catalog.Entry, error) {
	want := term
	if set, _ := spec.Load(mesh); set != nil {
		t := set.Term(term)
		if t == nil && set.Mesh != nil {
			return nil, fmt.Errorf("%q is not a term of the glossary in %s", term, filepath.Join(mesh, spec.MeshFile))
		}
		if t != nil {
			want = t.Term
		}
	}
	var out []catalog.Entry
	for _, e := range entries {
		terms, err := catalog.Terms(ctx, st, e.Latest)
		if err != nil {
			return nil, err
		}
		if slices.Contains(terms, want) {
			out = append(out, e)
		}
	}
	return out, nil
}

// runAudit audits the named products (all when none is named), prints what it
// found and fails when a guarantee is broken.
func runAudit(ctx context.Context, st storage.Store, refs []string, asJSON bool, stdout io.Writer) error {
	var audits []catalog.Audit
	if len(refs) == 0 {
		var err error
		if audits, err = catalog.AuditAll(ctx, st); err != nil {
			return err
		}
	}
	for _, ref := range refs {
		a, err := catalog.AuditProduct(ctx, st, ref)
		if err != nil {
			return err
		}
		audits = append(audits, a)
	}
	broken := 0
	for _, a := range audits {
		if !a.OK() {
			broken++
		}
	}
	// Every grant must have been recorded by an access workflow: approved by an
	// approver of the revision it names, with serve's signature.
	all, err := grants.List(ctx, st, "")
	if err != nil {
		return err
	}
	var forged []string
	for _, g := range all {
		if err := meshrev.VerifyGrant(ctx, st, g); err != nil {
			forged = append(forged, err.Error())
		}
	}
	if asJSON {
		if err := json.NewEncoder(stdout).Encode(audits); err != nil {
			return err
		}
	} else {
		for _, a := range audits {
			status := "ok"
			if !a.OK() {
				status = "BROKEN"
			}
			fmt.Fprintf(stdout, "%-7s %s: %d committed version(s) %s\n", status, a.Ref, len(a.Versions), strings.Join(a.Versions, ", "))
			for _, p := range a.Problems {
				fmt.Fprintf(stdout, "        problem: %s\n", p)
			}
			if len(a.Unreachable) > 0 {
				fmt.Fprintf(stdout, "        note: version(s) %s were claimed by runs that did not commit them; readers never see them\n", strings.Join(a.Unreachable, ", "))
			}
			if a.Staging > 0 {
				fmt.Fprintf(stdout, "        note: %d staging object(s): runs in progress, or left by runs that ended without their cleanup\n", a.Staging)
			}
		}
		if len(audits) == 0 {
			fmt.Fprintln(stdout, "nothing published yet in", st.URI(""))
		}
		if len(forged) == 0 {
			fmt.Fprintf(stdout, "ok      grants: %d, each approved with a signed decision\n", len(all))
		}
		for _, f := range forged {
			fmt.Fprintf(stdout, "BROKEN  %s\n", f)
		}
	}
	if len(forged) > 0 {
		return fmt.Errorf("the audit found %d grant(s) that no access workflow recorded", len(forged))
	}
	if broken > 0 {
		return fmt.Errorf("the audit found broken guarantees in %d of %d product(s)", broken, len(audits))
	}
	return nil
}

// runGC retires a product's versions older than the newest keep and removes the
// objects no kept version names.
func runGC(ctx context.Context, st storage.Store, ref string, keep int, dryRun, asJSON bool, stdout io.Writer) error {
	// The applied mesh says which majors consumers pin: their newest
	// versions stay, until their deprecation date.
	var pinned []int
	rev, _, err := meshrev.Load(ctx, st, refresh.RevisionCurrent)
	switch {
	case err == nil:
		if pinned, err = catalog.PinnedMajors(ctx, st, ref, rev.Products, time.Now()); err != nil {
			return err
		}
	case !errors.Is(err, meshrev.ErrNoRevision):
		return fmt.Errorf("read the applied mesh for the majors its consumers pin: %w", err)
	}
	res, err := catalog.GCKeeping(ctx, st, ref, keep, pinned, dryRun, time.Now())
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	retired := "none"
	if len(res.Retired) > 0 {
		retired = strings.Join(res.Retired, ", ")
	}
	forPins := ""
	if len(res.KeptForPins) > 0 {
		forPins = " (" + strings.Join(res.KeptForPins, ", ") + " for consumers that pin its major)"
	}
	fmt.Fprintf(stdout, "%s: kept the data of %s%s; retired %s; %s %d objects (%s)\n", ref, strings.Join(res.Kept, ", "), forPins, retired, verb, len(res.Removed), byteSize(res.Bytes))
	return nil
}

// byteSize writes a byte count for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
