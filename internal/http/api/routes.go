package api

import (
	_ "embed"
	"net/http"
)

// The operations of the HTTP API, each a ServeMux pattern. The packages that
// serve them register these constants, openapi.json documents each, and the
// tests check that Routes, the mux and the document agree. Adding an operation
// is three edits: a constant here, its entry in Routes, and its path item in
// openapi.json.
const (
	RouteOpenAPI         = "GET /api/v1/openapi.json"
	RouteApprovals       = "GET /api/v1/approvals"
	RouteRuns            = "GET /api/v1/runs"
	RouteRun             = "GET /api/v1/runs/{id...}"
	RouteDecisions       = "POST /api/v1/decisions"
	RouteRefreshes       = "POST /api/v1/refreshes"
	RouteAccessRequests  = "POST /api/v1/access/requests"
	RouteAccessDecisions = "POST /api/v1/access/decisions"
	RouteRevocations     = "POST /api/v1/access/revocations"
	RouteProducts        = "GET /api/v1/products"
	RouteProduct         = "GET /api/v1/products/{domain}/{name}"
	RouteProductODPS     = "GET /api/v1/products/{domain}/{name}/odps"
	RouteData            = "GET /api/v1/products/{domain}/{name}/data"
	RouteLink            = "GET /api/v1/products/{domain}/{name}/link"
	RouteDeprecations    = "POST /api/v1/products/{domain}/{name}/deprecations"
	RouteFollowLink      = "GET /api/v1/links/{token}"
	RouteQuery           = "POST /api/v1/query"
	RouteMetrics         = "GET /metrics"
)

// Routes lists every operation meshflow serves outside its web pages, in the
// order openapi.json documents them.
var Routes = []string{
	RouteOpenAPI,
	RouteApprovals,
	RouteRuns,
	RouteRun,
	RouteDecisions,
	RouteRefreshes,
	RouteAccessRequests,
	RouteAccessDecisions,
	RouteRevocations,
	RouteProducts,
	RouteProduct,
	RouteProductODPS,
	RouteData,
	RouteLink,
	RouteDeprecations,
	RouteFollowLink,
	RouteQuery,
	RouteMetrics,
}

// OpenAPI is the OpenAPI 3.1 document of the API, served at RouteOpenAPI.
//
//go:embed openapi.json
var OpenAPI []byte

// ServeOpenAPI answers the OpenAPI document. It is public: it names the
// operations, not what they hold.
func ServeOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(OpenAPI)
}
