package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// ClientLogger passes go-redis's own log lines to a [slog.Logger]. go-redis
// writes some lines of its own, outside any error it returns: a failed dial
// gives connection-pool lines such as "redis: connection pool: failed to
// dial after 5 attempts: dial tcp 127.0.0.1:6379: connect: connection
// refused". By default they go to standard error, through a logger that is
// global to the process, so a store cannot route them by itself; an
// application routes them once, at startup, before it makes a client:
//
//	goredis.SetLogger(redis.SlogLogger(logger))
//
// where goredis is github.com/redis/go-redis/v9 and logger is the
// application's *slog.Logger, for example the one in [sessionplus.Config].
// goredis.SetLogger(&logging.VoidLogger{}) (package
// github.com/redis/go-redis/v9/logging) drops them instead.
//
// Each line becomes one record at level Warn, with the message "go-redis:
// " and the line. go-redis does not put keys or values in these lines, so
// they hold no session tokens; they do name server addresses.
type ClientLogger struct {
	logger *slog.Logger
}

// SlogLogger returns a ClientLogger for goredis.SetLogger that logs to l; nil
// means slog.Default() at the time of each line.
func SlogLogger(l *slog.Logger) *ClientLogger { return &ClientLogger{logger: l} }

// Printf logs one line of go-redis. It implements go-redis's logging
// interface.
func (c *ClientLogger) Printf(ctx context.Context, format string, v ...any) {
	l := c.logger
	if l == nil {
		l = slog.Default()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if !l.Enabled(ctx, slog.LevelWarn) {
		return
	}
	line := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.WarnContext(ctx, "go-redis: "+line)
}
