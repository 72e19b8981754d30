package gnet

import (
	"context"
	"fmt"
	"log/slog"
)

// slogAdapter routes gnet's own log lines into the server's slog logger.
// gnet's informational start-up lines become debug lines: the engine logs
// its own summary.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) logf(level slog.Level, format string, args ...any) {
	if a.l.Enabled(context.Background(), level) {
		a.l.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "gnet")
	}
}

func (a slogAdapter) Debugf(format string, args ...any) { a.logf(slog.LevelDebug, format, args...) }
func (a slogAdapter) Infof(format string, args ...any)  { a.logf(slog.LevelDebug, format, args...) }
func (a slogAdapter) Warnf(format string, args ...any)  { a.logf(slog.LevelWarn, format, args...) }
func (a slogAdapter) Errorf(format string, args ...any) { a.logf(slog.LevelError, format, args...) }
func (a slogAdapter) Fatalf(format string, args ...any) { a.logf(slog.LevelError, format, args...) }
