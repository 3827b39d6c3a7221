package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/redis"
)

// The servers come from scripts/test (scripts/backends/redis.sh): without
// them the tests that need one skip, and under CI=true they fail.
const (
	envURL     = "SESSIONPLUS_REDIS_URL"           // redis://127.0.0.1:6390/0
	envCluster = "SESSIONPLUS_REDIS_CLUSTER_ADDRS" // 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
	// A Sentinel that monitors the standalone server as master
	// $SESSIONPLUS_REDIS_SENTINEL_MASTER.
	envSentinel = "SESSIONPLUS_REDIS_SENTINEL_ADDRS" // 127.0.0.1:26390
)

// server is one Redis setup the tests run against.
type server struct {
	name   string
	client func(t *testing.T, hooks ...goredis.Hook) goredis.UniversalClient
}

var servers = []server{
	{"standalone", standaloneClient},
	{"cluster", clusterClient},
	{"sentinel", sentinelClient},
}

// standaloneClient returns a client of the standalone server, closed when
// the test ends.
func standaloneClient(t *testing.T, hooks ...goredis.Hook) goredis.UniversalClient {
	t.Helper()
	o, err := goredis.ParseURL(drivertest.ServerFromEnv(t, envURL))
	if err != nil {
		t.Fatalf("%s: %v", envURL, err)
	}
	o.ContextTimeoutEnabled = true
	c := goredis.NewClient(o)
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// clusterClient returns a client of the cluster, closed when the test ends.
func clusterClient(t *testing.T, hooks ...goredis.Hook) goredis.UniversalClient {
	t.Helper()
	addrs := strings.Split(drivertest.ServerFromEnv(t, envCluster), ",")
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	if _, ok := c.(*goredis.ClusterClient); !ok {
		t.Fatalf("NewUniversalClient with %d addrs returned %T, want *goredis.ClusterClient", len(addrs), c)
	}
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sentinel returns the Sentinel's addresses and master name.
func sentinel(t *testing.T) ([]string, string) {
	t.Helper()
	addrs := strings.Split(drivertest.ServerFromEnv(t, envSentinel), ",")
	master := os.Getenv("SESSIONPLUS_REDIS_SENTINEL_MASTER")
	if master == "" {
		master = "sessionplus"
	}
	return addrs, master
}

// sentinelClient returns a failover client of the master the Sentinel
// monitors, closed when the test ends.
func sentinelClient(t *testing.T, hooks ...goredis.Hook) goredis.UniversalClient {
	t.Helper()
	addrs, master := sentinel(t)
	c := goredis.NewFailoverClient(&goredis.FailoverOptions{MasterName: master, SentinelAddrs: addrs, ContextTimeoutEnabled: true})
	for _, h := range hooks {
		c.AddHook(h)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// prefix returns a random key prefix and deletes every key under it when
// the test ends.
func prefix(t *testing.T, c goredis.UniversalClient) string {
	p := "sessionplus-test-" + randomHex(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		del := func(ctx context.Context, c goredis.UniversalClient) error {
			iter := c.Scan(ctx, 0, p+"*", 100).Iterator()
			for iter.Next(ctx) {
				if err := c.Del(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		}
		var err error
		if cc, ok := c.(*goredis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return del(ctx, n) })
		} else {
			err = del(ctx, c)
		}
		if err != nil {
			t.Errorf("cleanup of the keys under %q: %v", p, err)
		}
	})
	return p
}

type harness struct{ st sessionplus.Store }

func (h harness) MakeStore(context.Context) (sessionplus.Store, error) { return h.st, nil }
func (harness) Stateless() bool                                        { return false }
func (harness) Close()                                                 {}

func TestConformance(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			st := redis.New(srv.client(t), nil)
			drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
				return harness{st}, nil
			})
		})
	}
	// The registry's path: a client the driver builds from url, closed by
	// the store.
	t.Run("standalone, opened from url", func(t *testing.T) {
		url := drivertest.ServerFromEnv(t, envURL)
		drivertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (drivertest.Harness, error) {
			st, err := redis.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: sessionplus.Options{"url": url}})
			if err != nil {
				return nil, err
			}
			return closingHarness{harness{st}}, nil
		})
	})
}

type closingHarness struct{ harness }

func (h closingHarness) Close() { h.st.(*redis.Store).Close() }

// counter is a go-redis hook that counts round trips: one per command
// (ProcessHook) and one per pipeline or MULTI/EXEC (ProcessPipelineHook).
// The handshake of a new pooled connection (HELLO, then CLIENT SETINFO)
// also passes through the hooks; it is paid once per connection, not per
// operation, and is counted apart in setups.
type counter struct {
	mu     sync.Mutex
	calls  []string
	setups int
}

func (c *counter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *counter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.add([]goredis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.add(cmds)
		return next(ctx, cmds)
	}
}

// add counts one round trip of cmds.
func (c *counter) add(cmds []goredis.Cmder) {
	names := make([]string, len(cmds))
	setup := true
	for i, cmd := range cmds {
		names[i] = strings.ToUpper(cmd.Name())
		switch names[i] {
		case "HELLO", "CLIENT", "AUTH", "SELECT":
		default:
			setup = false
		}
	}
	call := names[0]
	if len(cmds) > 1 {
		call = "[" + strings.Join(names, " ") + "]"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if setup {
		c.setups++
		return
	}
	c.calls = append(c.calls, call)
}

// take returns the round trips counted since the last take.
func (c *counter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}

// want checks that exactly n round trips were made since the last take.
func (c *counter) want(t *testing.T, n int, what string) {
	t.Helper()
	calls := c.take()
	if len(calls) != n {
		t.Errorf("%s: %d round trips %v, want %d", what, len(calls), calls, n)
	} else {
		t.Logf("%s: %d round trip(s) %v", what, len(calls), calls)
	}
}

func vals(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// create, write and touch return the three kinds of update the root
// package sends.
func create(set map[string][]byte, expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Create, Set: set, Expiry: expiry}
}

func write(set map[string][]byte, del []string, expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Write, Set: set, Del: del, Expiry: expiry}
}

func touch(expiry time.Time) sessionplus.Update {
	return sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry}
}

// TestRoundTrips shows that every store operation is one round trip, and
// so is each that finds no record.
func TestRoundTrips(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			cnt := &counter{}
			rdb := srv.client(t, cnt)
			ctx := t.Context()
			st, err := redis.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: sessionplus.Options{"client": rdb}})
			if err != nil {
				t.Fatal(err)
			}
			cnt.take() // PING and the script loads of Open
			tok := prefix(t, rdb) + ":" + randomHex(16)
			hour := time.Now().Add(time.Hour)

			if _, err := st.Save(ctx, tok, create(vals("a", "1", "b", "2"), hour)); err != nil {
				t.Fatal(err)
			}
			cnt.want(t, 1, "Save (create)")
			if _, err := st.Load(ctx, tok); err != nil {
				t.Fatal(err)
			}
			cnt.want(t, 1, "Load")
			if _, err := st.Save(ctx, tok, write(vals("b", "3"), []string{"a"}, hour)); err != nil {
				t.Fatal(err)
			}
			cnt.want(t, 1, "Save (write)")
			if _, err := st.Save(ctx, tok, touch(hour.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
			cnt.want(t, 1, "Save (touch)")
			if err := st.Delete(ctx, tok); err != nil {
				t.Fatal(err)
			}
			cnt.want(t, 1, "Delete")
			if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
				t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
			}
			cnt.want(t, 1, "Load (not found)")
			if _, err := st.Save(ctx, tok, write(vals("c", "4"), nil, hour)); !errors.Is(err, sessionplus.ErrNotFound) {
				t.Fatalf("write after Delete: %v, want ErrNotFound", err)
			}
			cnt.want(t, 1, "Save (write, not found)")
			if _, err := st.Save(ctx, tok, touch(hour)); !errors.Is(err, sessionplus.ErrNotFound) {
				t.Fatalf("touch after Delete: %v, want ErrNotFound", err)
			}
			cnt.want(t, 1, "Save (touch, not found)")
			if err := st.Delete(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
				t.Fatalf("Delete after Delete: %v, want ErrNotFound", err)
			}
			cnt.want(t, 1, "Delete (not found)")
		})
	}
}

// TestLayout checks what a record looks like in Redis: one hash under the
// token, the fields as they are, the expiry in a reserved field and as the
// key's own expiry.
func TestLayout(t *testing.T) {
	rdb := standaloneClient(t)
	ctx := t.Context()
	st := redis.New(rdb, nil)
	tok := prefix(t, rdb) + ":" + randomHex(16)
	expiry := time.Now().Add(time.Hour)
	if _, err := st.Save(ctx, tok, create(vals("user", "alice", "theme", "dark"), expiry)); err != nil {
		t.Fatal(err)
	}
	h, err := rdb.HGetAll(ctx, tok).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"user": "alice", "theme": "dark", "\x00expiry": fmt.Sprint(expiry.UnixMilli())}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Errorf("HGETALL = %q, want %q", h, want)
	}
	exp, err := rdb.PExpireTime(ctx, tok).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got := exp.Milliseconds(); got != expiry.UnixMilli() {
		t.Errorf("PEXPIRETIME = %d, want %d (the record's expiry)", got, expiry.UnixMilli())
	}

	// A keep-alive moves both, and so does a field-level write.
	for _, c := range []struct {
		name string
		u    func(time.Time) sessionplus.Update
	}{
		{"touch", touch},
		{"write", func(e time.Time) sessionplus.Update { return write(vals("theme", "light"), nil, e) }},
	} {
		expiry = expiry.Add(time.Hour)
		if _, err := st.Save(ctx, tok, c.u(expiry)); err != nil {
			t.Fatal(err)
		}
		stored, _ := rdb.HGet(ctx, tok, "\x00expiry").Result()
		exp, _ = rdb.PExpireTime(ctx, tok).Result()
		if stored != fmt.Sprint(expiry.UnixMilli()) || exp.Milliseconds() != expiry.UnixMilli() {
			t.Errorf("after a %s: stored expiry %s, PEXPIRETIME %d; want both %d", c.name, stored, exp.Milliseconds(), expiry.UnixMilli())
		}
	}
}

// TestNotLive covers Write and Touch of a token with no live record: no
// key at all, a hash whose stored expiry has passed while Redis still holds
// the key (the application's clock ahead of Redis's), and a hash the store
// did not write (no expiry field). Each returns ErrNotFound and leaves Redis
// as it was: no key is created, and a stale hash keeps its fields and its
// TTL (Redis removes it on time).
func TestNotLive(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			rdb := srv.client(t)
			ctx := t.Context()
			st := redis.New(rdb, nil)
			p := prefix(t, rdb)
			hour := time.Now().Add(time.Hour)
			past := fmt.Sprint(time.Now().Add(-time.Second).UnixMilli())
			setups := []struct {
				name  string
				setup func(tok string) // nil: no key
			}{
				{"no key", nil},
				{"stale hash", func(tok string) {
					if err := rdb.HSet(ctx, tok, "user", "old-user", "\x00expiry", past).Err(); err != nil {
						t.Fatal(err)
					}
					rdb.Expire(ctx, tok, time.Hour)
				}},
				{"hash without an expiry", func(tok string) {
					if err := rdb.HSet(ctx, tok, "user", "x").Err(); err != nil {
						t.Fatal(err)
					}
					rdb.Expire(ctx, tok, time.Hour)
				}},
			}
			updates := []struct {
				name string
				u    sessionplus.Update
			}{
				{"write", write(vals("theme", "dark", "user", "new-user"), nil, hour)},
				{"write that only deletes", write(nil, []string{"user"}, hour)},
				{"touch", touch(hour)},
			}
			for _, s := range setups {
				for _, u := range updates {
					tok := p + ":" + randomHex(16)
					if s.setup != nil {
						s.setup(tok)
					}
					before, err := rdb.HGetAll(ctx, tok).Result()
					if err != nil {
						t.Fatal(err)
					}
					ttl, err := rdb.PTTL(ctx, tok).Result()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := st.Save(ctx, tok, u.u); !errors.Is(err, sessionplus.ErrNotFound) {
						t.Errorf("%s of a %s: %v, want ErrNotFound", u.name, s.name, err)
					}
					after, err := rdb.HGetAll(ctx, tok).Result()
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(after) != fmt.Sprint(before) {
						t.Errorf("%s of a %s changed the hash from %q to %q, want it unchanged", u.name, s.name, before, after)
					}
					if ttl2, err := rdb.PTTL(ctx, tok).Result(); err != nil || ttl2 > ttl || ttl2 < ttl-time.Minute {
						t.Errorf("%s of a %s: PTTL %v before, %v (%v) after; want it unchanged", u.name, s.name, ttl, ttl2, err)
					}
				}
			}

			// Load returns a stale hash with its stored expiry, which the
			// root package checks; a hash without one is no session.
			tok := p + ":" + randomHex(16)
			setups[1].setup(tok)
			rec, err := st.Load(ctx, tok)
			if err != nil {
				t.Fatalf("Load of a stale hash: %v", err)
			}
			if fmt.Sprint(rec.Expiry.UnixMilli()) != past {
				t.Errorf("Load of a stale hash: expiry %d, want the stored %s", rec.Expiry.UnixMilli(), past)
			}
			tok = p + ":" + randomHex(16)
			setups[2].setup(tok)
			if _, err := st.Load(ctx, tok); !errors.Is(err, sessionplus.ErrNotFound) {
				t.Errorf("Load of a hash without an expiry: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestUnknownKind shows that a Save of a kind the driver does not know is
// an error that is not ErrNotFound, and sends nothing.
func TestUnknownKind(t *testing.T) {
	cnt := &counter{}
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	rdb.AddHook(cnt)
	defer rdb.Close()
	st := redis.New(rdb, nil)
	for _, k := range []sessionplus.Kind{0, sessionplus.Touch + 1} {
		_, err := st.Save(t.Context(), "session:x", sessionplus.Update{Kind: k, Set: vals("a", "1"), Expiry: time.Now().Add(time.Hour)})
		if err == nil || errors.Is(err, sessionplus.ErrNotFound) || !strings.Contains(err.Error(), k.String()) {
			t.Errorf("Save of kind %v: %v, want an error naming the kind that is not ErrNotFound", k, err)
		}
	}
	cnt.want(t, 0, "Saves of unknown kinds")
}

// TestWrongType shows that a key of another type is an error, not a
// missing session: the root package must not overwrite it with a new one.
func TestWrongType(t *testing.T) {
	rdb := standaloneClient(t)
	ctx := t.Context()
	st := redis.New(rdb, nil)
	tok := prefix(t, rdb) + ":" + randomHex(16)
	if err := rdb.Set(ctx, tok, "a string", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, tok); err == nil || errors.Is(err, sessionplus.ErrNotFound) || strings.Contains(err.Error(), tok) {
		t.Errorf("Load of a string key: %v, want an error that is not ErrNotFound and does not contain the token", err)
	}
	hour := time.Now().Add(time.Hour)
	if _, err := st.Save(ctx, tok, write(vals("a", "1"), nil, hour)); err == nil || errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("write of a string key: %v, want an error that is not ErrNotFound", err)
	}
	if _, err := st.Save(ctx, tok, touch(hour)); err == nil || errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("touch of a string key: %v, want an error that is not ErrNotFound", err)
	}
}

// TestServerDown shows that a Redis that is down gives errors that are not
// ErrNotFound, name the command and do not contain the token.
func TestServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	checkFailures(t, redis.New(rdb, nil), t.Context())
}

// TestServerHangs shows that the context's deadline bounds a call to a
// server that accepts connections but never answers, when it is shorter
// than the store's timeout.
func TestServerHangs(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: drivertest.HungServer(t), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := redis.New(rdb, nil).Load(ctx, "hang:token")
	if err == nil || errors.Is(err, sessionplus.ErrNotFound) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Load from a server that never answers: %v, want context.DeadlineExceeded and not ErrNotFound", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond+timeoutSlack {
		t.Errorf("Load took %v with a 300ms deadline", d)
	}
	t.Logf("Load from a server that never answers: %v", err)
}

// timeoutSlack is how much later than its bound an operation against a
// server that never answers may return, on a loaded machine.
const timeoutSlack = time.Second

// checkBounded calls every operation of st with context.Background() and
// checks that each returns within bound (+ timeoutSlack) with an error that
// is context.DeadlineExceeded, says it is the store's timeout, and is not
// ErrNotFound.
func checkBounded(t *testing.T, st *redis.Store, bound time.Duration) {
	t.Helper()
	const tok = "hang:token"
	hour := time.Now().Add(time.Hour)
	ops := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"Load", func(ctx context.Context) error { _, err := st.Load(ctx, tok); return err }},
		{"Save (create)", func(ctx context.Context) error { _, err := st.Save(ctx, tok, create(vals("a", "1"), hour)); return err }},
		{"Save (write)", func(ctx context.Context) error {
			_, err := st.Save(ctx, tok, write(vals("a", "1"), []string{"b"}, hour))
			return err
		}},
		{"Save (touch)", func(ctx context.Context) error { _, err := st.Save(ctx, tok, touch(hour)); return err }},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, tok) }},
	}
	for _, op := range ops {
		start := time.Now()
		err := op.do(context.Background())
		d := time.Since(start)
		t.Logf("%s from a server that never answers, no deadline: %v after %v", op.name, err, d.Round(time.Millisecond))
		switch {
		case err == nil:
			t.Errorf("%s from a server that never answers succeeded", op.name)
		case errors.Is(err, sessionplus.ErrNotFound):
			t.Errorf("%s: the error %q wraps ErrNotFound", op.name, err)
		case !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("%s: the error %q is not context.DeadlineExceeded", op.name, err)
		case !strings.Contains(err.Error(), "the store's timeout"):
			t.Errorf("%s: the error %q does not say the store's timeout ended it", op.name, err)
		}
		if d > bound+timeoutSlack {
			t.Errorf("%s returned after %v, want at most %v + %v", op.name, d, bound, timeoutSlack)
		}
	}
}

// TestTimeout shows that the store's timeout bounds every operation on a
// server that never answers when the caller's context has no deadline, with
// go-redis's default retries (which cannot outlive it).
func TestTimeout(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: drivertest.HungServer(t), ContextTimeoutEnabled: true})
	defer rdb.Close()
	checkBounded(t, redis.New(rdb, &redis.Options{Timeout: 300 * time.Millisecond}), 300*time.Millisecond)
}

// TestTimeoutDefault shows that a store of New bounds an operation by
// DefaultTimeout when neither the caller nor the options give a bound.
func TestTimeoutDefault(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: drivertest.HungServer(t), ContextTimeoutEnabled: true})
	defer rdb.Close()
	st := redis.New(rdb, nil)
	start := time.Now()
	_, err := st.Load(context.Background(), "hang:token")
	d := time.Since(start)
	t.Logf("Load from a server that never answers, no deadline, default timeout: %v after %v", err, d.Round(time.Millisecond))
	if err == nil || errors.Is(err, sessionplus.ErrNotFound) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Load: %v, want context.DeadlineExceeded and not ErrNotFound", err)
	}
	if d < redis.DefaultTimeout-100*time.Millisecond || d > redis.DefaultTimeout+timeoutSlack {
		t.Errorf("Load returned after %v, want about DefaultTimeout (%v)", d, redis.DefaultTimeout)
	}
}

// TestTimeoutOpen shows that the timeout option bounds Open's ping of a
// server that never answers, for a client built from url or addrs and for
// one passed in.
func TestTimeoutOpen(t *testing.T) {
	addr := drivertest.HungServer(t)
	given := goredis.NewClient(&goredis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer given.Close()
	for _, tt := range []struct {
		name string
		opts sessionplus.Options
	}{
		{"url", sessionplus.Options{"url": "redis://" + addr + "/0", "timeout": "300ms"}},
		{"addrs", sessionplus.Options{"addrs": []string{addr}, "timeout": "300ms"}},
		{"client", sessionplus.Options{"client": given, "timeout": "300ms"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			st, err := redis.Driver{}.Open(context.Background(), sessionplus.DriverConfig{Options: tt.opts})
			d := time.Since(start)
			t.Logf("Open: %v after %v", err, d.Round(time.Millisecond))
			if err == nil {
				st.(*redis.Store).Close()
				t.Fatal("Open of a server that never answers succeeded")
			}
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "within 300ms (the store's timeout)") {
				t.Errorf("Open: %q, want context.DeadlineExceeded saying the store's timeout ended it", err)
			}
			if d > 300*time.Millisecond+timeoutSlack {
				t.Errorf("Open returned after %v, want at most 300ms + %v", d, timeoutSlack)
			}
		})
	}
}

// TestContextTimeoutWarning shows that Open warns about a client passed in
// without ContextTimeoutEnabled, whose network calls the store's timeout
// cannot bound, and not about one with it.
func TestContextTimeoutWarning(t *testing.T) {
	url := drivertest.ServerFromEnv(t, envURL)
	for _, enabled := range []bool{false, true} {
		t.Run(fmt.Sprint("ContextTimeoutEnabled=", enabled), func(t *testing.T) {
			o, err := goredis.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			o.ContextTimeoutEnabled = enabled
			rdb := goredis.NewClient(o)
			defer rdb.Close()
			var buf strings.Builder
			logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, nil))
			st, err := redis.Driver{}.Open(t.Context(), sessionplus.DriverConfig{Options: sessionplus.Options{"client": rdb}, Name: "session", Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			st.(*redis.Store).Close()
			warned := strings.Contains(buf.String(), "ContextTimeoutEnabled false")
			if warned == enabled {
				t.Errorf("ContextTimeoutEnabled %v: logged %q", enabled, buf.String())
			}
			if warned && !strings.Contains(buf.String(), "session=session") {
				t.Errorf("the warning does not name the session: %q", buf.String())
			}
		})
	}
}

// lockedWriter serializes the writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestNewNegativeTimeout: a negative Options.Timeout is a programmer error.
func TestNewNegativeTimeout(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "negative Options.Timeout") {
			t.Errorf("New with a negative Timeout: recovered %v, want a panic about it", r)
		}
	}()
	redis.New(rdb, &redis.Options{Timeout: -time.Second})
}

func checkFailures(t *testing.T, st *redis.Store, ctx context.Context) {
	t.Helper()
	const tok = "session:SECRET-TOKEN-abcdefghijklmnopqrstuvwxyz"
	hour := time.Now().Add(time.Hour)
	check := func(op string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s with the server down returned no error", op)
		case errors.Is(err, sessionplus.ErrNotFound):
			t.Errorf("%s with the server down: %q wraps ErrNotFound: a failure would pass for a missing session", op, err)
		case strings.Contains(err.Error(), "SECRET-TOKEN"):
			t.Errorf("%s: the error %q contains the token", op, err)
		case !strings.HasPrefix(err.Error(), "redis: "):
			t.Errorf("%s: the error %q does not say it comes from the redis driver", op, err)
		default:
			t.Logf("%s: %v", op, err)
		}
	}
	_, err := st.Load(ctx, tok)
	check("Load", err)
	_, err = st.Save(ctx, tok, create(vals("a", "1"), hour))
	check("Save (create)", err)
	_, err = st.Save(ctx, tok, write(vals("a", "1"), []string{"b"}, hour))
	check("Save (write)", err)
	_, err = st.Save(ctx, tok, touch(hour))
	check("Save (touch)", err)
	check("Delete", st.Delete(ctx, tok))
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name       string
		opts       func(t *testing.T) sessionplus.Options
		wantErr    string // a substring of the error; "" for none
		wantConfig bool   // the error wraps sessionplus.ErrConfig
	}{
		{
			name: "ok, client",
			opts: func(t *testing.T) sessionplus.Options { return sessionplus.Options{"client": standaloneClient(t)} },
		},
		{
			name: "ok, cluster client",
			opts: func(t *testing.T) sessionplus.Options { return sessionplus.Options{"client": clusterClient(t)} },
		},
		{
			name: "ok, url",
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL)}
			},
		},
		{
			name: "ok, url with db, username and password as JSON gives them",
			opts: func(t *testing.T) sessionplus.Options {
				// The default user accepts any password when none is set.
				return sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL), "db": float64(1), "username": "default", "password": "x"}
			},
		},
		{
			name: "ok, one address",
			opts: func(t *testing.T) sessionplus.Options {
				o, _ := goredis.ParseURL(drivertest.ServerFromEnv(t, envURL))
				return sessionplus.Options{"addrs": []string{o.Addr}}
			},
		},
		{
			name: "ok, cluster addrs as JSON gives them",
			opts: func(t *testing.T) sessionplus.Options {
				var addrs []any
				for _, a := range strings.Split(drivertest.ServerFromEnv(t, envCluster), ",") {
					addrs = append(addrs, a)
				}
				return sessionplus.Options{"addrs": addrs}
			},
		},
		{
			name: "ok, sentinel addrs with master_name",
			opts: func(t *testing.T) sessionplus.Options {
				addrs, master := sentinel(t)
				return sessionplus.Options{"addrs": addrs, "master_name": master}
			},
		},
		{
			name: "nok, a key the root package sets",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://x:1", "cookie_name": "session"}
			},
			wantErr:    `unknown key "cookie_name"`,
			wantConfig: true,
		},
		{
			name: "nok, the logger as a key",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://x:1", "logger": slog.Default()}
			},
			wantErr:    `unknown key "logger"`,
			wantConfig: true,
		},
		{
			name: "ok, client and timeout",
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"client": standaloneClient(t), "timeout": "2s"}
			},
		},
		{
			name: "ok, url and timeout in seconds",
			opts: func(t *testing.T) sessionplus.Options {
				return sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL), "timeout": 3.0}
			},
		},
		{
			name: "nok, timeout not a duration",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://x:1", "timeout": "soon"}
			},
			wantErr:    `key "timeout"`,
			wantConfig: true,
		},
		{
			name: "nok, timeout zero",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://x:1", "timeout": "0s"}
			},
			wantErr:    `key "timeout": expected a positive duration`,
			wantConfig: true,
		},
		{
			name:       "nok, timeout negative",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"url": "redis://x:1", "timeout": -1} },
			wantErr:    `key "timeout": expected a positive duration`,
			wantConfig: true,
		},
		{
			name:       "nok, neither client nor url",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"db": 1} },
			wantErr:    `one of the keys "client", "url" or "addrs" is required`,
			wantConfig: true,
		},
		{
			name: "nok, both",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": goredis.NewClient(&goredis.Options{}), "url": "redis://127.0.0.1:1"}
			},
			wantErr:    `keys "client" and "url": give only one`,
			wantConfig: true,
		},
		{
			name: "nok, url and addrs",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://x:1", "addrs": []string{"x:1"}}
			},
			wantErr:    `keys "url" and "addrs"`,
			wantConfig: true,
		},
		{
			name:       "nok, unknown key",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"url": "redis://x:1", "hosts": "x"} },
			wantErr:    `unknown key "hosts"`,
			wantConfig: true,
		},
		{
			name:       "nok, db is a string",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"url": "redis://x:1", "db": "one"} },
			wantErr:    `key "db"`,
			wantConfig: true,
		},
		{
			name:       "nok, negative db",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"url": "redis://x:1", "db": -1} },
			wantErr:    `key "db"`,
			wantConfig: true,
		},
		{
			name:       "nok, client is a string",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"client": "127.0.0.1:6379"} },
			wantErr:    `key "client"`,
			wantConfig: true,
		},
		{
			name:       "nok, nil client",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"client": (*goredis.Client)(nil)} },
			wantErr:    `key "client": got a nil`,
			wantConfig: true,
		},
		{
			name: "nok, password beside a client",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"client": goredis.NewClient(&goredis.Options{}), "password": "x"}
			},
			wantErr:    `key "password": applies only with "url" or "addrs"`,
			wantConfig: true,
		},
		{
			name:       "nok, empty url",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"url": ""} },
			wantErr:    `key "url"`,
			wantConfig: true,
		},
		{
			name:       "nok, url of another scheme",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"url": "http://127.0.0.1:6379"} },
			wantErr:    `key "url": expected a redis:// or rediss:// URL: redis: invalid URL scheme: http`,
			wantConfig: true,
		},
		{
			name: "nok, url that does not parse",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://user:s3cret@host:port/0"}
			},
			wantErr:    `key "url"`,
			wantConfig: true,
		},
		{
			name: "nok, master_name with url",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://x:1", "master_name": "m"}
			},
			wantErr:    `key "master_name"`,
			wantConfig: true,
		},
		{
			name:       "nok, empty addrs",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"addrs": []string{}} },
			wantErr:    `key "addrs": expected at least one`,
			wantConfig: true,
		},
		{
			name:       "nok, addrs as one string",
			opts:       func(*testing.T) sessionplus.Options { return sessionplus.Options{"addrs": "a:1,b:2"} },
			wantErr:    `key "addrs"`,
			wantConfig: true,
		},
		{
			name: "nok, db on a cluster",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"addrs": []string{"a:1", "b:2"}, "db": 2}
			},
			wantErr:    `key "db": several addrs make a Redis Cluster client`,
			wantConfig: true,
		},
		{
			name: "nok, unreachable url",
			opts: func(*testing.T) sessionplus.Options {
				return sessionplus.Options{"url": "redis://:s3cret@127.0.0.1:1/0"}
			},
			wantErr: `redis: cannot reach the server at 127.0.0.1:1: PING: `,
		},
		{
			name:    "nok, unreachable addrs",
			opts:    func(*testing.T) sessionplus.Options { return sessionplus.Options{"addrs": []string{"127.0.0.1:1"}} },
			wantErr: `redis: cannot reach the server at 127.0.0.1:1: PING: `,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sessionplus.DriverConfig{Options: tt.opts(t), Name: "session", SecretKeys: [][]byte{[]byte(strings.Repeat("k", 32))}}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			st, err := redis.Driver{}.Open(ctx, cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				rs, ok := st.(*redis.Store)
				if !ok {
					t.Fatalf("Open returned %T, want *redis.Store", st)
				}
				defer rs.Close()
				tok := "sessionplus-test-" + randomHex(6) + ":" + randomHex(16)
				if _, err := st.Save(ctx, tok, create(vals("a", "1"), time.Now().Add(time.Minute))); err != nil {
					t.Fatalf("Save through the opened store: %v", err)
				}
				if _, err := st.Load(ctx, tok); err != nil {
					t.Errorf("Load through the opened store: %v", err)
				}
				if err := st.Delete(ctx, tok); err != nil {
					t.Errorf("Delete through the opened store: %v", err)
				}
				return
			}
			if err == nil {
				st.(*redis.Store).Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.wantErr)
			}
			t.Logf("Open: %v", err)
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open error = %q contains the password", err)
			}
			if got := errors.Is(err, sessionplus.ErrConfig); got != tt.wantConfig {
				t.Errorf("errors.Is(err, sessionplus.ErrConfig) = %v, want %v", got, tt.wantConfig)
			}
			if st != nil {
				t.Errorf("Open returned a store (%T) along with its error", st)
			}
		})
	}
}

// TestCloseOwnership shows that a store closes the client it built and
// leaves a client passed in open.
func TestCloseOwnership(t *testing.T) {
	rdb := standaloneClient(t)
	ctx := t.Context()
	st, err := redis.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: sessionplus.Options{"client": rdb}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.(*redis.Store).Close(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("the client passed in was closed with the store: %v", err)
	}
	redis.New(rdb, nil).Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("the client given to New was closed with the store: %v", err)
	}

	st, err = redis.Driver{}.Open(ctx, sessionplus.DriverConfig{Options: sessionplus.Options{"url": drivertest.ServerFromEnv(t, envURL)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.(*redis.Store).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load(ctx, "x"); !errors.Is(err, goredis.ErrClosed) {
		t.Errorf("Load after Close of a store opened from url: %v, want goredis.ErrClosed", err)
	}
	if err := st.(*redis.Store).Close(); err != nil {
		t.Errorf("a second Close: %v, want the first one's nil", err)
	}
}

// TestOpenDryCheck shows that a mistake Validate finds in the options of a
// redis session stops sessionplus.New before any server is contacted: not
// the server of that session, nor that of the session before it.
func TestOpenDryCheck(t *testing.T) {
	tests := []struct {
		name    string
		given   func(url string) sessionplus.Options // the second session's redis keys
		wantKey string
	}{
		{"nok, timeout zero", func(url string) sessionplus.Options { return sessionplus.Options{"url": url, "timeout": "0s"} }, "timeout"},
		{"nok, master_name with url", func(url string) sessionplus.Options { return sessionplus.Options{"url": url, "master_name": "m"} }, "master_name"},
		{"nok, negative db", func(url string) sessionplus.Options { return sessionplus.Options{"url": url, "db": -1} }, "db"},
		{
			name: "nok, password beside a client",
			given: func(url string) sessionplus.Options {
				o, _ := goredis.ParseURL(url)
				return sessionplus.Options{"client": goredis.NewClient(o), "password": "x"}
			},
			wantKey: "password",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := drivertest.CountingServer(t)
			second := sessionplus.Options{"cookie_name": "data", "session_type": redis.Name}
			for k, v := range tt.given(counterURL(srv)) {
				second[k] = v
			}
			if c, ok := second["client"].(*goredis.Client); ok {
				defer c.Close()
			}
			m, err := sessionplus.New(t.Context(), sessionplus.Config{Sessions: []sessionplus.Options{
				{"cookie_name": "session", "session_type": redis.Name, "url": counterURL(srv), "timeout": "200ms"},
				second,
			}})
			if err == nil {
				m.Close()
				t.Fatal("New succeeded, want the mistake of the second session")
			}
			t.Logf("New: %v", err)
			var ce *sessionplus.ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.wantKey || ce.Session != 2 {
				t.Errorf("New: %q, want a *sessionplus.ConfigError of session 2, key %q", err, tt.wantKey)
			}
			if n := srv.Accepted(); n != 0 {
				t.Errorf("the server got %d connections, want 0: New contacted it before it checked every session", n)
			}
		})
	}
}

func counterURL(c *drivertest.Listener) string { return "redis://" + c.Addr + "/0" }
