package app

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomodule/redigo/redis"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// RoundTrips counts Redis round trips: for go-redis (sessionplus) as a
// goredis.Hook on the client passed as "client", one per command sent alone
// and one per pipeline or MULTI/EXEC; for redigo (scs) one per Do, which
// flushes what Send queued and waits for the replies. With Record set it
// also keeps the commands, for the round-trip report.
type RoundTrips struct {
	n      atomic.Int64
	Record bool

	mu   sync.Mutex
	cmds []string
}

var _ goredis.Hook = (*RoundTrips)(nil)

// Count returns the round trips so far.
func (rt *RoundTrips) Count() int64 { return rt.n.Load() }

// Take returns the round trips and the commands recorded since the last
// Take, and starts counting again.
func (rt *RoundTrips) Take() (int64, []string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	cmds := rt.cmds
	rt.cmds = nil
	return rt.n.Swap(0), cmds
}

// add counts one round trip; name, called only when recording, names it.
// Nothing is allocated when not recording: the counter must not make the
// contenders it counts slower.
func (rt *RoundTrips) add(name func() string) {
	rt.n.Add(1)
	if rt.Record {
		cmd := name()
		rt.mu.Lock()
		rt.cmds = append(rt.cmds, cmd)
		rt.mu.Unlock()
	}
}

// TraceQueryStart counts one PostgreSQL statement (pgx.QueryTracer): each
// is one round trip, with database/sql over pgx as with pgx itself.
func (rt *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	rt.add(func() string {
		verb, _, _ := strings.Cut(strings.TrimSpace(data.SQL), " ")
		return strings.ToUpper(verb)
	})
	return ctx
}

// TraceQueryEnd is part of pgx.QueryTracer.
func (rt *RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// DialHook is part of goredis.Hook; dialing is not counted (the benchmarks
// warm the pool first).
func (rt *RoundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

// ProcessHook counts one command sent on its own.
func (rt *RoundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		rt.add(func() string { return strings.ToUpper(cmd.Name()) })
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts a pipeline or a MULTI/EXEC transaction, which
// go-redis writes at once and reads back at once: one round trip.
func (rt *RoundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		rt.add(func() string {
			names := make([]string, len(cmds))
			for i, c := range cmds {
				names[i] = strings.ToUpper(c.Name())
			}
			return "pipeline[" + strings.Join(names, " ") + "]"
		})
		return next(ctx, cmds)
	}
}

// countingConn counts the round trips of a redigo connection: each Do that
// sends a command or flushes queued ones. Send only queues.
type countingConn struct {
	redis.Conn
	rt      *RoundTrips
	pending []string // the commands queued by Send, when recording
	queued  int      // how many
}

func (c *countingConn) Send(cmd string, args ...any) error {
	c.queued++
	if c.rt.Record {
		c.pending = append(c.pending, cmd)
	}
	return c.Conn.Send(cmd, args...)
}

func (c *countingConn) Do(cmd string, args ...any) (any, error) {
	if cmd != "" || c.queued > 0 {
		c.rt.add(func() string {
			cmds := c.pending
			if cmd != "" {
				cmds = append(cmds, cmd)
			}
			if len(cmds) == 1 {
				return cmds[0]
			}
			return "pipeline[" + strings.Join(cmds, " ") + "]"
		})
	}
	c.pending, c.queued = c.pending[:0], 0
	return c.Conn.Do(cmd, args...)
}
