package web

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"html/template"
	"strings"
	"time"
	"unicode/utf8"
)

// funcs are the template functions; colors are the pages' domain colors.
func funcs(colors domainColors) template.FuncMap {
	return template.FuncMap{
		"ago":      ago,
		"when":     func(t time.Time) string { return when(t) },
		"duration": roughDuration,
		"percent":  func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
		"short":    func(s string, n int) string { return shorten(s, n) },
		"join":     strings.Join,
		"dclass":   colors.class,
		"add":      func(a, b int) int { return a + b },
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return roughDuration(time.Since(t)) + " ago"
}

// roughDuration writes a duration the way people read it: 3s, 4m10s, 2h5m, 3d4h.
func roughDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// palette holds the colors of domains: light fills that keep black text
// readable. style.css has the same colors as the classes d0…d7.
var palette = []string{"#cfe3ff", "#d4f2d2", "#ffe1c2", "#ead6ff", "#ffd6dc", "#d2f1f1", "#fff2b3", "#e2e2e2"}

// domainColors gives every domain a stable color: the domains of the mesh in
// their order, so that neighbours differ; other domains by a hash of the name.
type domainColors map[string]int

func newDomainColors(names []string) domainColors {
	c := domainColors{}
	for i, n := range names {
		c[n] = i % len(palette)
	}
	return c
}

func (c domainColors) index(domain string) int {
	if i, ok := c[domain]; ok {
		return i
	}
	h := fnv.New32a()
	h.Write([]byte(domain))
	return int(h.Sum32() % uint32(len(palette)))
}

// fill is the SVG fill of a domain ("" is an external source).
func (c domainColors) fill(domain string) string {
	if domain == "" {
		return "#f4f4f4"
	}
	return palette[c.index(domain)]
}

// class is the CSS class of a domain, for HTML, where the content security
// policy allows no inline styles.
func (c domainColors) class(domain string) string {
	if domain == "" {
		return "dx"
	}
	return fmt.Sprintf("d%d", c.index(domain))
}

// lineage is the lineage graph of one product as positioned boxes and edges.
type lineage struct {
	Width, Height int
	Nodes         []lineageNode
	Edges         []lineageEdge
	Domains       []string
}

type lineageNode struct {
	X, Y, W, H int
	Label      string
	Sub        string
	Link       string
	Domain     string
	Fill       string
	Center     bool
	External   bool
}

type lineageEdge struct{ Path string }

// lineageInput is one upstream node: a product (Ref) or an external URI.
type lineageInput struct {
	Name, Ref, URI, Format, Version string
}

const (
	nodeW, nodeH, nodeGap = 250, 46, 14
	colGap                = 70
)

// layoutLineage places inputs left, the product in the middle and consumers right.
func layoutLineage(colors domainColors, ref string, inputs []lineageInput, consumers []string) lineage {
	rows := max(len(inputs), len(consumers), 1)
	l := lineage{Width: 3*nodeW + 2*colGap + 20, Height: rows*(nodeH+nodeGap) + nodeGap}
	colY := func(i, n int) int {
		// Center a column of n nodes in the drawing.
		top := (l.Height - (n*(nodeH+nodeGap) - nodeGap)) / 2
		return top + i*(nodeH+nodeGap)
	}
	domains := map[string]bool{}
	addDomain := func(d string) {
		if d != "" && !domains[d] {
			domains[d] = true
			l.Domains = append(l.Domains, d)
		}
	}
	cx, cy := 10+nodeW+colGap, colY(0, 1)
	dom, name, _ := strings.Cut(ref, "/")
	addDomain(dom)
	center := lineageNode{X: cx, Y: cy, W: nodeW, H: nodeH, Label: shorten(name, 32), Sub: dom, Domain: dom, Fill: colors.fill(dom), Center: true}
	for i, in := range inputs {
		n := lineageNode{X: 10, Y: colY(i, len(inputs)), W: nodeW, H: nodeH}
		if in.Ref != "" {
			d, pn, _ := strings.Cut(in.Ref, "/")
			addDomain(d)
			n.Label, n.Domain, n.Fill, n.Link = shorten(pn, 32), d, colors.fill(d), productURL(in.Ref)
			n.Sub = d
			if in.Version != "" {
				n.Sub += " · v" + in.Version
			}
		} else {
			// Without a URI (hidden from anonymous visitors), the input's name.
			n.Label, n.Fill, n.External = shorten(cmp.Or(in.URI, in.Name), 36), colors.fill(""), true
			n.Sub = "external " + in.Format + " · " + in.Name
		}
		l.Nodes = append(l.Nodes, n)
		l.Edges = append(l.Edges, edge(n.X+n.W, n.Y+n.H/2, cx, cy+nodeH/2))
	}
	l.Nodes = append(l.Nodes, center)
	for i, c := range consumers {
		d, pn, _ := strings.Cut(c, "/")
		addDomain(d)
		n := lineageNode{X: cx + nodeW + colGap, Y: colY(i, len(consumers)), W: nodeW, H: nodeH,
			Label: shorten(pn, 32), Sub: d, Domain: d, Fill: colors.fill(d), Link: productURL(c)}
		l.Nodes = append(l.Nodes, n)
		l.Edges = append(l.Edges, edge(cx+nodeW, cy+nodeH/2, n.X, n.Y+n.H/2))
	}
	return l
}

func edge(x1, y1, x2, y2 int) lineageEdge {
	mx := (x1 + x2) / 2
	return lineageEdge{Path: fmt.Sprintf("M%d,%d C%d,%d %d,%d %d,%d", x1, y1, mx, y1, mx, y2, x2-6, y2)}
}

func productURL(ref string) string { return "/products/" + ref }

// chart is a bar chart of rows across versions: rows out above, quarantined and
// failing rows below, each panel on its own scale so that small counts show.
type chart struct {
	Width, Height int
	Top, Bottom   chartPanel
	Labels        []chartLabel
}

type chartPanel struct {
	Y, H  int
	Max   int64
	Title string
	Bars  []chartBar
}

type chartBar struct {
	X, Y, W, H int
	Fill       string
	Title      string
}

type chartLabel struct {
	X, Y int
	Text string
}

type chartPoint struct {
	Version              string
	RowsOut, Quarantined int64
	// Failing is the most rows any one warning rule flagged.
	Failing int64
}

// layoutChart draws points, oldest first.
func layoutChart(points []chartPoint) chart {
	const left, panelH, gap = 60, 110, 34
	n := max(len(points), 1)
	slot := max(24, min(90, 800/n))
	c := chart{Width: max(420, left+n*slot+20), Height: 2*panelH + 2*gap + 30}
	c.Top = chartPanel{Y: gap, H: panelH, Title: "rows out"}
	c.Bottom = chartPanel{Y: 2*gap + panelH, H: panelH, Title: "quarantined / failing a warning rule"}
	for _, p := range points {
		c.Top.Max = max(c.Top.Max, p.RowsOut)
		c.Bottom.Max = max(c.Bottom.Max, p.Quarantined, p.Failing)
	}
	scale := func(v, m int64, h int) int {
		if m == 0 {
			return 0
		}
		return int(float64(v) / float64(m) * float64(h))
	}
	for i, p := range points {
		x := left + i*slot + slot/8
		w := slot * 3 / 4
		h := scale(p.RowsOut, c.Top.Max, panelH)
		c.Top.Bars = append(c.Top.Bars, chartBar{X: x, Y: c.Top.Y + panelH - h, W: w, H: max(h, 1), Fill: "#4a7bd0",
			Title: fmt.Sprintf("v%s: %d rows out", p.Version, p.RowsOut)})
		hq := scale(p.Quarantined, c.Bottom.Max, panelH)
		hf := scale(p.Failing, c.Bottom.Max, panelH)
		c.Bottom.Bars = append(c.Bottom.Bars,
			chartBar{X: x, Y: c.Bottom.Y + panelH - hq, W: w / 2, H: max(hq, 1), Fill: "#d0453a",
				Title: fmt.Sprintf("v%s: %d rows quarantined", p.Version, p.Quarantined)},
			chartBar{X: x + w/2, Y: c.Bottom.Y + panelH - hf, W: w / 2, H: max(hf, 1), Fill: "#e0a030",
				Title: fmt.Sprintf("v%s: %d rows failing a warning rule", p.Version, p.Failing)})
		c.Labels = append(c.Labels, chartLabel{X: x + w/2, Y: c.Bottom.Y + panelH + 16, Text: "v" + shorten(p.Version, 9)})
	}
	return c
}
