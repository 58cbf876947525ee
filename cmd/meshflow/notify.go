package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/interop/notify"
	"github.com/meshflow/meshflow/internal/interop/outbox"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// notifyFlags are the notification flags of worker and dev.
type notifyFlags struct {
	off       bool
	file      string
	publicURL string
}

func (n *notifyFlags) register(fs *flag.FlagSet, withPublicURL bool) {
	fs.BoolVar(&n.off, "no-notify", envOr("MESHFLOW_NOTIFY", "on") == "off", "leave no notifications and send none (env MESHFLOW_NOTIFY=off); the notifications of mesh.yaml route them otherwise")
	fs.StringVar(&n.file, "notify-file", envOr("MESHFLOW_NOTIFY_FILE", ""), "append every notification to this file as JSON lines too, whatever mesh.yaml routes (meshflow dev: <data-dir>/notifications.jsonl when empty); empty: none")
	if withPublicURL {
		fs.StringVar(&n.publicURL, "public-url", envOr("MESHFLOW_PUBLIC_URL", ""), "URL meshflow serve is reached at, e.g. https://meshflow.example.com: notifications link to its inbox and product pages; empty: no links")
	}
}

// summary says where notifications go, for meshflow dev's banner.
func (n *notifyFlags) summary() string {
	if n.off {
		return "off (--no-notify)"
	}
	if n.file != "" {
		return "routed by mesh.yaml; every event also in " + n.file
	}
	return "routed by mesh.yaml"
}

// start turns notifications on for acts and starts the sender, which routes
// them by the current mesh revision until ctx ends. It warns when the mesh
// routes e-mail and no SMTP server is set.
func (n *notifyFlags) start(ctx context.Context, st storage.Store, acts *activities.Activities, reg prometheus.Registerer, logger *slog.Logger) {
	if n.off {
		return
	}
	acts.Notify = true
	routes := notify.RevisionRoutes(st)
	s := &notify.Sender{Store: st, Routes: routes, PublicURL: n.publicURL, Registerer: reg, Logger: logger}
	if m := smtpFromEnv(); m != nil {
		s.Mail, s.From = m, m.From
	}
	if n.file != "" {
		s.File = &outbox.File{Path: n.file}
	}
	if rs, err := routes(ctx); err == nil && s.Mail == nil {
		for _, r := range rs {
			if len(r.Email) > 0 {
				logger.Warn("notify: the mesh sends e-mail but no SMTP server is set: set MESHFLOW_SMTP_ADDR (and MESHFLOW_SMTP_USER, MESHFLOW_SMTP_PASSWORD, MESHFLOW_SMTP_FROM); until then its e-mail ends as dead letters", "notification", r.Name)
			}
		}
	}
	go func() {
		if err := s.Run(ctx); err != nil {
			logger.Error("notify sender stopped", "error", err)
		}
	}()
}

// smtpFromEnv reads the SMTP server of e-mail notifications from
// MESHFLOW_SMTP_ADDR (host:port), MESHFLOW_SMTP_USER, MESHFLOW_SMTP_PASSWORD
// and MESHFLOW_SMTP_FROM; nil when no address is set.
func smtpFromEnv() *notify.SMTP {
	addr := os.Getenv("MESHFLOW_SMTP_ADDR")
	if addr == "" {
		return nil
	}
	return &notify.SMTP{Addr: addr, User: os.Getenv("MESHFLOW_SMTP_USER"), Password: os.Getenv("MESHFLOW_SMTP_PASSWORD"),
		From: envOr("MESHFLOW_SMTP_FROM", "meshflow@localhost")}
}
