package devserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/temporalio/ui-server/v2/server/api"
	"github.com/temporalio/ui-server/v2/server/auth"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/cors"
	"github.com/temporalio/ui-server/v2/server/csrf"
	"github.com/temporalio/ui-server/v2/server/headers"
	"github.com/temporalio/ui-server/v2/server/route"
	"github.com/temporalio/ui-server/v2/ui"
)

// uiServer serves the Temporal Web UI.
//
// It assembles the same routes and middleware as server.NewServer of
// github.com/temporalio/ui-server/v2 (v2.54.1), because that server cannot be used
// from a library: it opens its own listener and ends the process through
// Logger.Fatal when the port is taken, and it panics on configuration errors.
// Here the UI is served on the listener Start has already opened, and every
// error is returned. Check this against server/server.go when upgrading ui-server.
type uiServer struct {
	http *http.Server
	done chan error
}

// startUI serves the Web UI on ln, talking to the frontend at frontendAddr.
func startUI(ln net.Listener, frontendAddr, namespace string) (*uiServer, error) {
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		// The UI is served over plain HTTP on the developer's machine.
		CORS:     uiconfig.CORS{CookieInsecure: true},
		HideLogs: true,
		// The news feed is fetched from the internet; `meshflow dev` works offline.
		DisableNewsFetch: true,
	}
	cfgProvider, err := uiconfig.NewConfigProviderWithRefresh(cfg)
	if err != nil {
		return nil, fmt.Errorf("UI configuration: %w", err)
	}
	assets, err := ui.Assets()
	if err != nil {
		return nil, fmt.Errorf("UI assets: %w", err)
	}
	assets, err = fs.Sub(assets, "local")
	if err != nil {
		return nil, fmt.Errorf("UI assets: %w", err)
	}

	const cookieSecure = false
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Use(middleware.Recover())
	e.Use(middleware.Gzip())
	e.Use(cors.CORSMiddleware(cors.CORSConfig{
		AllowHeaders: []string{
			echo.HeaderOrigin, echo.HeaderContentType, echo.HeaderAccept,
			echo.HeaderXCSRFToken, echo.HeaderAuthorization, auth.AuthorizationExtrasHeader,
			"Caller-Type",
		},
		AllowCredentials: true,
		ConfigProvider:   cfgProvider,
	}))
	e.Use(middleware.Secure())
	e.Use(csrf.EnsureTokenCookie(cookieSecure))
	e.Use(middleware.CSRFWithConfig(csrf.MiddlewareConfig(cfgProvider, cookieSecure)))
	e.Pre(route.PublicPath(cfg.PublicPath))
	route.SetHealthRoute(e)
	apiMiddleware := []api.Middleware{
		headers.WithForwardHeaders([]string{auth.AuthorizationExtrasHeader, "Caller-Type"}),
	}
	if err := route.SetAPIRoutes(e, cfgProvider, apiMiddleware); err != nil {
		return nil, fmt.Errorf("UI API routes: %w", err)
	}
	route.SetAuthRoutes(e, cfgProvider)
	if err := route.SetUIRoutes(e, cfg.PublicPath, assets); err != nil {
		return nil, fmt.Errorf("UI routes: %w", err)
	}
	route.SetRenderRoute(e, cfg.PublicPath)

	s := &uiServer{
		http: &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// stop closes the listener and waits up to ten seconds for requests in flight.
func (s *uiServer) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("stop UI server: %w", err)
	}
	return nil
}
