package devserver

import (
	"context"
	"log/slog"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogLevel is the lowest level of server logs passed on: the server reports
// a lot at info level that means nothing to a developer running `meshflow dev`.
const serverLogLevel = slog.LevelWarn

// minLevelHandler drops records below min before they reach the wrapped handler.
type minLevelHandler struct {
	min slog.Leveler
	h   slog.Handler
}

func (m minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min.Level() && m.h.Enabled(ctx, l)
}

func (m minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	return m.h.Handle(ctx, r)
}

func (m minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{min: m.min, h: m.h.WithAttrs(attrs)}
}

func (m minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{min: m.min, h: m.h.WithGroup(name)}
}

// slogLogger adapts a *slog.Logger to the Temporal server's log.Logger.
type slogLogger struct {
	l *slog.Logger
}

var (
	_ log.Logger      = slogLogger{}
	_ log.WithLogger  = slogLogger{}
	_ log.SLogWrapper = slogLogger{}
)

// newServerLogger returns the server's logger: l, quieted to the level in min.
func newServerLogger(l *slog.Logger, min *slog.LevelVar) slogLogger {
	return slogLogger{l: slog.New(minLevelHandler{min: min, h: l.Handler()})}
}

func (s slogLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	s.l.LogAttrs(ctx, level, msg, attrs...)
}

func (s slogLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s slogLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s slogLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s slogLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal log at error level and return: library code must not
// end the process that embeds the server.
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic logs at error level and returns; see DPanic.
func (s slogLogger) Panic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Fatal logs at error level and returns; see DPanic.
func (s slogLogger) Fatal(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// With returns a logger that adds tags to every record.
func (s slogLogger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, len(tags))
	for i, t := range tags {
		args[i] = slog.Any(t.Key(), t.Value())
	}
	return slogLogger{l: s.l.With(args...)}
}

// SLog returns the underlying logger, for server parts that log through slog.
func (s slogLogger) SLog() *slog.Logger { return s.l }
