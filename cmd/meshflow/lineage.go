package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/interop/openlineage"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// lineageFlags are the OpenLineage flags of worker and dev.
type lineageFlags struct {
	url, apiKey, file string
}

func (l *lineageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.url, "openlineage-url", envOr("MESHFLOW_OPENLINEAGE_URL", ""), "send OpenLineage events of every refresh to this receiver, e.g. Marquez at http://marquez:5000 (its /api/v1/lineage is added to a URL without a path); empty: none")
	fs.StringVar(&l.apiKey, "openlineage-api-key", envOr("MESHFLOW_OPENLINEAGE_API_KEY", ""), "bearer key for --openlineage-url (better: env MESHFLOW_OPENLINEAGE_API_KEY)")
	fs.StringVar(&l.file, "openlineage-file", envOr("MESHFLOW_OPENLINEAGE_FILE", ""), "append OpenLineage events to this file as JSON lines; empty: none")
}

// on says whether lineage is configured.
func (l *lineageFlags) on() bool { return l.url != "" || l.file != "" }

// start turns lineage on for acts (events of the mesh named mesh go to the
// store's outbox) and starts the sender, which runs until ctx ends.
func (l *lineageFlags) start(ctx context.Context, st storage.Store, mesh string, acts *activities.Activities, logger *slog.Logger) error {
	if !l.on() {
		return nil
	}
	var tr openlineage.Multi
	if l.url != "" {
		h := &openlineage.HTTP{URL: l.url, APIKey: l.apiKey}
		if _, err := h.Endpoint(); err != nil {
			return err
		}
		tr = append(tr, h)
	}
	if l.file != "" {
		tr = append(tr, &openlineage.File{Path: l.file})
	}
	acts.Lineage = &openlineage.Naming{Mesh: mesh}
	s := &openlineage.Sender{Store: st, Transport: tr, Logger: logger}
	go func() {
		if err := s.Run(ctx); err != nil {
			logger.Error("openlineage sender stopped", "error", err)
		}
	}()
	return nil
}
