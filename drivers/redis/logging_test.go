package redis_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/sessionplus/sessionplus/drivers/redis"
)

// failDial routes go-redis's lines to a slog logger, as the README says,
// makes one command against a port where no server listens, and returns
// the text the logger got.
func failDial(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, nil))
	goredis.SetLogger(redis.SlogLogger(logger))
	defer logging.Enable() // go-redis's default: standard error

	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", DialTimeout: time.Second, DialerRetries: 1, MaxRetries: -1})
	err := rdb.Ping(context.Background()).Err()
	rdb.Close()
	if err == nil {
		t.Fatal("a ping of 127.0.0.1:1 succeeded")
	}
	return buf.String()
}

// TestClientLogger: with SlogLogger set, the connection-pool line of a
// failed dial reaches the application's slog handler, as a warning that
// names the failure.
func TestClientLogger(t *testing.T) {
	got := failDial(t)
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, `msg="go-redis: connection pool: failed to dial after 1 attempts: dial tcp 127.0.0.1:1: connect: connection refused"`) {
		t.Errorf("the slog handler got %q, want the warning of the failed dial", got)
	}
}

// TestClientLoggerLevel: a logger above Warn gets nothing.
func TestClientLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	l := redis.SlogLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})))
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 1, "refused")
	if buf.Len() != 0 {
		t.Errorf("a logger at level Error got %q", buf.String())
	}
	l = redis.SlogLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Printf(nil, "putConn called with nil connection") //nolint:staticcheck // go-redis passes a nil context at times
	if !strings.Contains(buf.String(), `msg="go-redis: putConn called with nil connection"`) {
		t.Errorf("got %q", buf.String())
	}
}
