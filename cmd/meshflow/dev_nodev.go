//go:build nodev

package main

import (
	"context"
	"errors"
	"io"
)

// errNoDev is what `meshflow dev` says in a production build: the embedded
// Temporal server and UI (go.temporal.io/server, ui-server) are not linked.
var errNoDev = errors.New("this meshflow binary was built without the embedded dev server (-tags nodev); use the full build for meshflow dev")

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errNoDev
}

func runTemporalServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errNoDev
}
