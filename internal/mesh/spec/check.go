package spec

import (
	"fmt"
	"net/mail"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/robfig/cron/v3"
)

// check makes the checks that need more than one file: names, references between
// documents, and cycles.
func (s *Set) check(ds *diag.List) {
	if s.Mesh != nil {
		s.checkMesh(ds)
	}
	seen := map[string]*Product{}
	for _, p := range s.Products {
		if prev := seen[p.Ref()]; prev != nil {
			ds.Errorf(p.Doc.PosAt("metadata", "name"), "duplicate-product",
				fmt.Sprintf("rename one of them; the other is in %s", prev.Doc.File),
				"product %s is defined twice", p.Ref())
			continue
		}
		seen[p.Ref()] = p
		s.checkProduct(p, ds)
	}
	s.checkCycles(ds)
}

func (s *Set) checkMesh(ds *diag.List) {
	m := s.Mesh
	doc := m.Doc
	names := map[string]bool{}
	for i, p := range m.Principals {
		if names[p.Name] {
			ds.Errorf(doc.PosAt("principals", i, "name"), "duplicate-principal", "keep one of them", "principal %q is defined twice", p.Name)
		}
		names[p.Name] = true
		switch p.Kind {
		case "", "user", "team", "service":
		default:
			ds.Errorf(doc.PosAt("principals", i, "kind"), "bad-value", "write user, team or service", "unknown principal kind %q", p.Kind)
		}
		for j, r := range p.Roles {
			if !slices.Contains(Roles, r) {
				ds.Errorf(doc.PosAt("principals", i, "roles", j), "unknown-role", "known roles: "+strings.Join(Roles, ", "), "unknown role %q", r)
			}
		}
		if p.TokenHash != "" && !ValidTokenHash(p.TokenHash) {
			ds.Errorf(doc.PosAt("principals", i, "tokenHash"), "bad-token-hash",
				fmt.Sprintf("run `meshflow token new %s` and paste the tokenHash line it prints", p.Name),
				"tokenHash of %q is not sha256:<64 lower-case hex digits>", p.Name)
		}
	}
	for i, p := range m.Principals {
		for j, member := range p.Members {
			if !names[member] {
				s.unknownPrincipal(doc, member, ds, "principals", i, "members", j)
			}
		}
	}
	domains := map[string]bool{}
	for i, d := range m.Domains {
		if d.Name != "" && !SafeName(d.Name) {
			unsafeName(doc, "domain", d.Name, ds, "domains", i, "name")
		}
		if domains[d.Name] {
			ds.Errorf(doc.PosAt("domains", i, "name"), "duplicate-domain", "keep one of them", "domain %q is defined twice", d.Name)
		}
		domains[d.Name] = true
		for j, o := range d.Owners {
			if !names[o] {
				s.unknownPrincipal(doc, o, ds, "domains", i, "owners", j)
			}
		}
		for j, o := range d.Stewards {
			if !names[o] {
				s.unknownPrincipal(doc, o, ds, "domains", i, "stewards", j)
			}
		}
	}
	terms := map[string]bool{}
	for i, t := range m.Glossary {
		if terms[t.Term] {
			ds.Errorf(doc.PosAt("glossary", i, "term"), "duplicate-term", "keep one definition per term", "glossary term %q is defined twice", t.Term)
		}
		terms[t.Term] = true
		if t.Owner != "" && !domains[t.Owner] {
			s.unknownDomain(doc, t.Owner, ds, "glossary", i, "owner")
		}
	}
	ids := map[string]bool{}
	for i, p := range m.Policies {
		if ids[p.ID] {
			ds.Errorf(doc.PosAt("policies", i, "id"), "duplicate-policy", "give each policy its own id", "policy %q is defined twice", p.ID)
		}
		ids[p.ID] = true
		switch p.Severity {
		case "", "error", "warning":
		default:
			ds.Errorf(doc.PosAt("policies", i, "severity"), "bad-value", "write error or warning", "unknown severity %q", p.Severity)
		}
	}
	s.checkNotifications(ds)
}

// checkNotifications checks the routes of notifications: a unique name, one
// channel (an https webhook, or e-mail addresses), a known format, known
// events and domains.
func (s *Set) checkNotifications(ds *diag.List) {
	m := s.Mesh
	doc := m.Doc
	names := map[string]bool{}
	for i, n := range m.Notifications {
		if names[n.Name] {
			ds.Errorf(doc.PosAt("notifications", i, "name"), "duplicate-notification", "give each notification its own name", "notification %q is defined twice", n.Name)
		}
		names[n.Name] = true
		if n.Name != "" && !SafeName(n.Name) {
			unsafeName(doc, "notification", n.Name, ds, "notifications", i, "name")
		}
		switch {
		case n.Webhook == "" && len(n.Email) == 0:
			ds.Errorf(doc.KeyPosAt("notifications", i), "no-channel", "add webhook: https://… or email: [address]", "notification %q has neither a webhook nor e-mail addresses", n.Name)
		case n.Webhook != "" && len(n.Email) > 0:
			ds.Errorf(doc.PosAt("notifications", i, "email"), "two-channels", "write one notification per channel", "notification %q has both a webhook and e-mail addresses", n.Name)
		}
		if n.Webhook != "" {
			if err := CheckWebhook(n.Webhook); err != nil {
				ds.Errorf(doc.PosAt("notifications", i, "webhook"), "bad-webhook", "write https://host/path (http only to localhost or 127.0.0.1)", "webhook of %q: %v", n.Name, err)
			}
		}
		for j, addr := range n.Email {
			if a, err := mail.ParseAddress(addr); err != nil || a.Name != "" {
				ds.Errorf(doc.PosAt("notifications", i, "email", j), "bad-email", "write a plain address such as maria.rossi@acme.example", "e-mail address %q of %q is not an address", addr, n.Name)
			}
		}
		switch {
		case n.Format == "":
		case len(n.Email) > 0:
			ds.Errorf(doc.PosAt("notifications", i, "format"), "bad-value", "leave format out: e-mail is plain text", "notification %q sends e-mail and has a webhook format", n.Name)
		case !slices.Contains(NotificationFormats, n.Format):
			ds.Errorf(doc.PosAt("notifications", i, "format"), "bad-value", "write one of "+strings.Join(NotificationFormats, ", "), "unknown notification format %q", n.Format)
		}
		if len(n.Events) == 0 && doc.At("notifications", i, "events") != nil { // a missing key is reported as such
			ds.Errorf(doc.PosAt("notifications", i, "events"), "no-events", "known events: "+strings.Join(NotificationEvents, ", "), "notification %q routes no events", n.Name)
		}
		for j, e := range n.Events {
			if !slices.Contains(NotificationEvents, e) {
				ds.Errorf(doc.PosAt("notifications", i, "events", j), "unknown-event", eventHint(e), "unknown event %q", e)
			}
		}
		for j, d := range n.Domains {
			if !slices.Contains(s.domainNames(), d) {
				s.unknownDomain(doc, d, ds, "notifications", i, "domains", j)
			}
		}
	}
}

func eventHint(name string) string {
	if c := yamlfile.Closest(name, NotificationEvents); c != "" {
		return fmt.Sprintf("did you mean %q?", c)
	}
	return "known events: " + strings.Join(NotificationEvents, ", ")
}

// CheckWebhook says what is wrong with a webhook URL: it must be https, or
// http to the local machine (for tests and meshflow dev).
func CheckWebhook(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	switch {
	case u.Host == "" || host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (host == "localhost" || host == "127.0.0.1" || host == "::1"):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q is http: events would cross the network unencrypted", raw)
	}
	return fmt.Errorf("%q is not an https URL", raw)
}

// Term returns the glossary term with the given name or synonym, or nil.
func (s *Set) Term(name string) *Term {
	if s.Mesh == nil {
		return nil
	}
	for i, t := range s.Mesh.Glossary {
		if t.Term == name || slices.Contains(t.Synonyms, name) {
			return &s.Mesh.Glossary[i]
		}
	}
	return nil
}

func (s *Set) principalNames() []string {
	var out []string
	if s.Mesh != nil {
		for _, p := range s.Mesh.Principals {
			out = append(out, p.Name)
		}
	}
	return out
}

func (s *Set) domainNames() []string {
	var out []string
	if s.Mesh != nil {
		for _, d := range s.Mesh.Domains {
			out = append(out, d.Name)
		}
	}
	return out
}

func (s *Set) unknownPrincipal(doc *yamlfile.Doc, name string, ds *diag.List, at ...any) {
	ds.Errorf(doc.PosAt(at...), "unknown-principal", suggest(name, s.principalNames(), "principals", MeshFile),
		"unknown principal %q", name)
}

func (s *Set) unknownDomain(doc *yamlfile.Doc, name string, ds *diag.List, at ...any) {
	ds.Errorf(doc.PosAt(at...), "unknown-domain", suggest(name, s.domainNames(), "domains", MeshFile),
		"unknown domain %q", name)
}

// suggest writes the hint for an unknown name: the likely intended one, or where to
// define it.
func suggest(name string, known []string, list, file string) string {
	if c := yamlfile.Closest(name, known); c != "" {
		return fmt.Sprintf("did you mean %q? or add it to %s in %s", c, list, file)
	}
	return fmt.Sprintf("add it to %s in %s", list, file)
}

func unsafeName(doc *yamlfile.Doc, what, name string, ds *diag.List, at ...any) {
	ds.Errorf(doc.PosAt(at...), "unsafe-name",
		"use 2-63 lower-case letters, digits and hyphens, starting with a letter (it becomes part of object keys and workflow IDs)",
		"%s name %q is not safe for object keys", what, name)
}

func (s *Set) checkProduct(p *Product, ds *diag.List) {
	doc := p.Doc
	md := p.Metadata
	if !SafeName(md.Name) {
		unsafeName(doc, "product", md.Name, ds, "metadata", "name")
	}
	if s.Mesh != nil {
		if s.Domain(md.Domain) == nil {
			s.unknownDomain(doc, md.Domain, ds, "metadata", "domain")
		}
		if md.Owner != "" && s.Principal(md.Owner) == nil {
			s.unknownPrincipal(doc, md.Owner, ds, "metadata", "owner")
		}
	}
	s.checkInputs(p, ds)
	if strings.TrimSpace(p.Transform.SQL) == "" && doc.At("transform", "sql") != nil {
		ds.Errorf(doc.PosAt("transform", "sql"), "missing-value", "write the SELECT that builds the product from its inputs", "the transform SQL is empty")
	}
	s.checkGovernance(p, ds)
	switch p.Access {
	case "", AccessOpen, AccessRestricted:
	default:
		ds.Errorf(doc.PosAt("access"), "bad-value", "write access: open (any product and person of the mesh may read it) or access: restricted (the default: other domains need a grant)",
			"unknown access mode %q", p.Access)
	}
	switch p.Output.Format {
	case "", refresh.FormatParquet:
	default:
		ds.Errorf(doc.PosAt("output", "format"), "bad-value", "write format: parquet", "output format %q is not supported", p.Output.Format)
	}
	switch p.Output.Unchanged {
	case "", UnchangedSkip, UnchangedPublish:
	default:
		ds.Errorf(doc.PosAt("output", "unchanged"), "bad-value", "write unchanged: skip (the default: an identical output publishes no version) or unchanged: publish (a version every refresh)",
			"unknown output.unchanged %q", p.Output.Unchanged)
	}
	if sc := p.Schedule; sc != nil {
		if _, err := cron.ParseStandard(sc.Cron); err != nil && sc.Cron != "" {
			ds.Errorf(doc.PosAt("schedule", "cron"), "bad-cron", `write five fields "minute hour day-of-month month day-of-week", e.g. "0 6 * * *"`,
				"%q is not a cron expression: %v", sc.Cron, err)
		} else if strings.HasPrefix(sc.Cron, "TZ=") || strings.HasPrefix(sc.Cron, "CRON_TZ=") {
			// Temporal refuses a cron time zone next to the schedule's own.
			ds.Errorf(doc.PosAt("schedule", "cron"), "bad-cron", "drop the prefix and write the zone under schedule.timezone",
				"%q names its time zone in the cron expression", sc.Cron)
		}
		if sc.Overlap != "" && !slices.Contains(OverlapPolicies, sc.Overlap) {
			ds.Errorf(doc.PosAt("schedule", "overlap"), "bad-value", "write one of "+strings.Join(OverlapPolicies, ", "),
				"unknown overlap policy %q", sc.Overlap)
		}
		// A value that is no duration at all was reported when the spec was decoded.
		if n := doc.At("schedule", "catchupWindow"); n != nil {
			if d, err := time.ParseDuration(n.Value); err == nil && d >= 0 && d < MinCatchupWindow {
				ds.Errorf(doc.Pos(n), "bad-duration",
					fmt.Sprintf("write at least %s, or leave it out for the default of %s", MinCatchupWindow, DefaultCatchupWindow),
					"catch-up window %s is shorter than %s", d, MinCatchupWindow)
			}
		}
		if sc.Timezone != "" {
			if _, err := time.LoadLocation(sc.Timezone); err != nil {
				ds.Errorf(doc.PosAt("schedule", "timezone"), "bad-timezone", `write an IANA time zone such as "Europe/Berlin" or "Asia/Shanghai"`,
					"unknown time zone %q", sc.Timezone)
			}
		}
	}
	if p.Contract != nil && s.Mesh != nil {
		s.checkGlossary(p, ds)
	}
	s.checkPartitions(p, ds)
}

func (s *Set) checkInputs(p *Product, ds *diag.List) {
	doc := p.Doc
	names := map[string]bool{}
	for i, in := range p.Inputs {
		if !tableName.MatchString(in.Name) {
			ds.Errorf(doc.PosAt("inputs", i, "name"), "bad-input-name",
				"use lower-case letters, digits and underscores, starting with a letter: the transform SQL reads it as a table",
				"input name %q is not a plain SQL table name", in.Name)
		}
		if names[in.Name] {
			ds.Errorf(doc.PosAt("inputs", i, "name"), "duplicate-input", "give each input its own name", "input %q appears twice", in.Name)
		}
		names[in.Name] = true
		switch in.BadRows {
		case "", refresh.BadRowsFail:
		case refresh.BadRowsQuarantine:
			if f := in.DataFormat(); in.Product != "" || IsPostgres(in.URI) || (f != refresh.FormatCSV && f != refresh.FormatJSON) {
				ds.Errorf(doc.PosAt("inputs", i, "badRows"), "bad-value", "remove badRows: only CSV and JSON lines inputs have lines that may not be rows",
					"input %q is not CSV or JSON lines, so it has no bad rows to quarantine", in.Name)
			}
		default:
			ds.Errorf(doc.PosAt("inputs", i, "badRows"), "bad-value", "write badRows: fail (the default) or badRows: quarantine",
				"unknown badRows mode %q", in.BadRows)
		}
		switch {
		case in.URI == "" && in.Product == "":
			ds.Errorf(doc.PosAt("inputs", i), "missing-key", `add uri: "file://…" or "s3://…", or product: <domain>/<product>`,
				"input %q needs a uri or a product", in.Name)
		case in.URI != "" && in.Product != "":
			ds.Errorf(doc.PosAt("inputs", i, "product"), "conflict", "keep one of them", "input %q has both a uri and a product", in.Name)
		case in.Product != "":
			if in.Pin != "" && in.Major == 0 {
				ds.Errorf(doc.PosAt("inputs", i, "product"), "bad-pin", fmt.Sprintf("pin a major version by its number, as in product: %s@1, or remove the @ to follow the latest version", in.Product),
					"input %q pins %q, which is not a major version number (1 or more)", in.Name, in.Pin[1:])
			}
			if s.Product(in.Product) == nil {
				var refs []string
				for _, q := range s.Products {
					refs = append(refs, q.Ref())
				}
				ds.Errorf(doc.PosAt("inputs", i, "product"), "unknown-product", suggest(in.Product, refs, "the products", "the mesh folder"),
					"input %q reads unknown product %q", in.Name, in.Product)
			}
		case pinnedURI.MatchString(in.URI) && !IsPostgres(in.URI):
			ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-pin", "only product inputs pin a major version (product: <domain>/<name>@<major>); a uri reads its objects as they are — rename the object if its name really ends in @<number>",
				"input %q pins a major version on a uri, which has none", in.Name)
		case IsPostgres(in.URI):
			checkPostgres(doc, i, in, ds)
		default:
			for _, key := range []string{"table", "query"} {
				if doc.At("inputs", i, key) != nil {
					ds.Errorf(doc.PosAt("inputs", i, key), "bad-key", `read a table or a query only from a "postgresql://<host>:<port>/<database>" uri`,
						"input %q is not a PostgreSQL input: %s does not apply", in.Name, key)
				}
			}
			if !strings.HasPrefix(in.URI, "file://") && !strings.HasPrefix(in.URI, "s3://") {
				ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-uri", `write "file://<path>" (relative to the mesh folder), "s3://<bucket>/<key or prefix>" or "postgresql://<host>:<port>/<database>"`,
					"input uri %q has no supported scheme", in.URI)
			} else if rel, ok := strings.CutPrefix(in.URI, "file://"); ok && !localToMesh(rel) {
				// A worker reads what its host holds: keys, other runs'
				// scratch, the store. A spec reads files of its own mesh folder.
				ds.Errorf(doc.PosAt("inputs", i, "uri"), "file-outside-mesh",
					"keep local input files in the mesh folder and name them relative to it (file://data/…); read data elsewhere from s3://, and other products with product: <domain>/<name>",
					"input uri %q leaves the mesh folder", in.URI)
			} else if ok && s.Dir != "" {
				local := filepath.Join(s.Dir, filepath.FromSlash(rel))
				if before, _, template := strings.Cut(local, "{"); template {
					local = filepath.Dir(before)
				}
				if at, to := linkOutOfMesh(s.Dir, local); at != "" {
					ds.Errorf(doc.PosAt("inputs", i, "uri"), "file-outside-mesh",
						"keep local input files in the mesh folder, not symbolic links to files elsewhere; read data elsewhere from s3://",
						"input uri %q reads %s, a symbolic link to %s outside the mesh folder", in.URI, at, to)
				}
			}
			if f := in.DataFormat(); f == "" {
				ds.Errorf(doc.PosAt("inputs", i), "missing-format", "add format: csv, jsonl or parquet",
					"cannot tell the format of input %q from its uri", in.Name)
			} else if !slices.Contains([]refresh.Format{refresh.FormatCSV, refresh.FormatJSON, refresh.FormatParquet}, f) {
				ds.Errorf(doc.PosAt("inputs", i, "format"), "bad-value", "write csv, jsonl or parquet", "input format %q is not supported", in.Format)
			}
		}
	}
}

// DataFormat returns the input's format, from its format key or else its URI's
// extension ("" when neither says).
func (in Input) DataFormat() refresh.Format {
	if IsPostgres(in.URI) && in.Format == "" {
		return refresh.FormatParquet // the snapshot of a table or query
	}
	if in.Format != "" {
		if in.Format == "json" || in.Format == "ndjson" {
			return refresh.FormatJSON
		}
		return in.Format
	}
	return refresh.FormatOfName(in.URI)
}

func (s *Set) checkGovernance(p *Product, ds *diag.List) {
	doc := p.Doc
	g := p.Governance
	switch g.Approval {
	case "", refresh.ApprovalNever, refresh.ApprovalAlways, refresh.ApprovalOnBreakingChange:
	default:
		ds.Errorf(doc.PosAt("governance", "approval"), "bad-value", "write never, always or on-breaking-change", "unknown approval mode %q", g.Approval)
	}
	if s.Mesh != nil {
		for i, st := range g.Stewards {
			if s.Principal(st) == nil {
				s.unknownPrincipal(doc, st, ds, "governance", "stewards", i)
			}
		}
		for i, st := range g.EscalateTo {
			if s.Principal(st) == nil {
				s.unknownPrincipal(doc, st, ds, "governance", "escalateTo", i)
			}
		}
	}
	stewards := s.Stewards(p)
	if g.Approval == refresh.ApprovalAlways || g.Approval == refresh.ApprovalOnBreakingChange {
		if len(stewards) == 0 {
			ds.Errorf(doc.PosAt("governance", "approval"), "no-stewards", "list stewards under governance, or under the domain in mesh.yaml",
				"approval %q needs at least one steward", g.Approval)
		}
	}
	if g.Quorum < 0 || (len(stewards) > 0 && g.Quorum > len(stewards)) {
		ds.Errorf(doc.PosAt("governance", "quorum"), "bad-quorum", fmt.Sprintf("write a number from 1 to %d", max(1, len(stewards))),
			"quorum %d cannot be met by %d steward(s)", g.Quorum, len(stewards))
	}
}

// Stewards returns who may approve the product: the product's stewards, or else its
// domain's.
func (s *Set) Stewards(p *Product) []string {
	if len(p.Governance.Stewards) > 0 {
		return p.Governance.Stewards
	}
	if d := s.Domain(p.Metadata.Domain); d != nil {
		return d.Stewards
	}
	return nil
}

func (s *Set) checkGlossary(p *Product, ds *diag.List) {
	var terms []string
	for _, t := range s.Mesh.Glossary {
		terms = append(terms, t.Term)
	}
	for _, o := range p.Contract.Schema {
		for _, prop := range o.Properties {
			if prop.GlossaryTerm != "" && s.Term(prop.GlossaryTerm) == nil {
				ds.Errorf(glossaryPos(p, prop.Path), "unknown-term",
					suggest(prop.GlossaryTerm, terms, "glossary", MeshFile),
					"column %q links to unknown glossary term %q", prop.Name, prop.GlossaryTerm)
			}
		}
	}
}

// checkCycles reports products that depend on each other in a cycle.
func (s *Set) checkCycles(ds *diag.List) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(p *Product)
	visit = func(p *Product) {
		state[p.Ref()] = visiting
		stack = append(stack, p.Ref())
		for i, in := range p.Inputs {
			q := s.Product(in.Product)
			if q == nil {
				continue
			}
			switch state[q.Ref()] {
			case unvisited:
				visit(q)
			case visiting:
				start := slices.Index(stack, q.Ref())
				cycle := append(slices.Clone(stack[start:]), q.Ref())
				ds.Errorf(p.Doc.PosAt("inputs", i, "product"), "cycle", "a product cannot read itself, directly or through other products: remove one of these inputs",
					"products depend on each other in a cycle: %s", strings.Join(cycle, " → "))
			}
		}
		stack = stack[:len(stack)-1]
		state[p.Ref()] = done
	}
	for _, p := range s.Products {
		if state[p.Ref()] == unvisited {
			visit(p)
		}
	}
}

// Order returns the products so that every product comes after those it reads.
func (s *Set) Order() []*Product {
	var out []*Product
	done := map[string]bool{}
	var visit func(p *Product)
	visit = func(p *Product) {
		if done[p.Ref()] {
			return
		}
		done[p.Ref()] = true
		for _, in := range p.Inputs {
			if q := s.Product(in.Product); q != nil {
				visit(q)
			}
		}
		out = append(out, p)
	}
	for _, p := range s.Products {
		visit(p)
	}
	return out
}

// glossaryPos returns the position of the value of a property's glossaryTerm custom
// property.
func glossaryPos(p *Product, propPath []any) diag.Pos {
	doc := p.Contract.Doc
	cps := doc.At(append(slices.Clone(propPath), "customProperties")...)
	if cps != nil {
		for i := range cps.Content {
			if n := doc.At(append(slices.Clone(propPath), "customProperties", i, "property")...); n != nil && n.Value == "glossaryTerm" {
				return doc.PosAt(append(slices.Clone(propPath), "customProperties", i, "value")...)
			}
		}
	}
	return doc.PosAt(propPath...)
}

// People expands teams to their members: the principals who can act for the given
// names, in order, without repeats.
func (s *Set) People(names []string) []string {
	var out []string
	var add func(n string, depth int)
	add = func(n string, depth int) {
		p := s.Principal(n)
		if p != nil && len(p.Members) > 0 && depth < 8 {
			for _, m := range p.Members {
				add(m, depth+1)
			}
			return
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range names {
		add(n, 0)
	}
	return out
}

// localToMesh reports whether a file:// path stays inside the mesh folder: it is
// relative and, cleaned, does not climb out with "..".
func localToMesh(rel string) bool {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") {
		return false
	}
	clean := path.Clean(rel)
	return clean != ".." && !strings.HasPrefix(clean, "../")
}
