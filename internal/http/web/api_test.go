package web

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestCatalogJSONAPI(t *testing.T) {
	srv, _ := newTestServer(t)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("/api/v1/products?term=net-revenue")
	var list productsJSON
	if status != 200 || json.Unmarshal([]byte(body), &list) != nil || list.Total != 1 || list.Products[0].Ref != "finance/kpis" {
		t.Fatalf("search by term: %d %s", status, body)
	}
	status, body = get("/api/v1/products")
	if json.Unmarshal([]byte(body), &list); status != 200 || list.Total != 2 {
		t.Fatalf("all products: %d %s", status, body)
	}
	status, body = get("/api/v1/products/finance/kpis")
	var p productJSON
	if status != 200 || json.Unmarshal([]byte(body), &p) != nil || !slices.Equal(p.Versions, []string{"1.0.0", "1.1.0", "2.0.0"}) ||
		p.Latest.Version != "2.0.0" || !slices.Contains(p.Terms, "net-revenue") {
		t.Fatalf("product: %d %s", status, body)
	}
	for _, path := range []string{"/api/v1/products", "/api/v1/products/finance/kpis"} {
		_, body := get(path)
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		if bad := nonCamelKeys(v, ""); len(bad) > 0 {
			t.Errorf("%s answers keys that are not camelCase: %v", path, bad)
		}
	}
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/products/finance/nothing", 404, "unknown_product"},
		{"/api/v1/products?limit=0", 400, "bad_request"},
		{"/api/v1/products?limit=many", 400, "bad_request"},
		{"/api/v1/products?q=a&q=b", 400, "bad_request"},
	} {
		status, body := get(c.path)
		if status != c.status || !strings.Contains(body, `"code":"`+c.code+`"`) {
			t.Errorf("%s: got %d %s, want %d %s", c.path, status, body, c.status, c.code)
		}
	}
}

// nonCamelKeys returns the paths of the object keys in v that are not
// camelCase (a lower-case first letter, no underscores or spaces).
func nonCamelKeys(v any, at string) []string {
	var bad []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "" || !unicode.IsLower(rune(k[0])) || strings.ContainsAny(k, "_ -") {
				bad = append(bad, at+"."+k)
			}
			bad = append(bad, nonCamelKeys(e, at+"."+k)...)
		}
	case []any:
		for _, e := range x {
			bad = append(bad, nonCamelKeys(e, at+"[]")...)
		}
	}
	return bad
}
