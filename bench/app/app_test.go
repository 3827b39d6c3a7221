package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sessionplus/sessionplus/bench/app"
)

// redisURL and postgresURL are the servers of the Redis and PostgreSQL
// contenders; scripts/bench sets them.
var (
	redisURL    = os.Getenv("SESSIONPLUS_REDIS_URL")
	postgresURL = os.Getenv("SESSIONPLUS_POSTGRES_URL")
)

// newApp builds contender's app, counting its Redis round trips in rt (nil:
// not counted). Without a Redis server a Redis contender is skipped.
func newApp(tb testing.TB, contender string, rt *app.RoundTrips) *app.App {
	tb.Helper()
	if app.NeedsRedis(contender) && redisURL == "" {
		tb.Skipf("%s needs Redis: set SESSIONPLUS_REDIS_URL (scripts/bench starts a server and sets it)", contender)
	}
	if app.NeedsPostgres(contender) && postgresURL == "" {
		tb.Skipf("%s needs PostgreSQL: set SESSIONPLUS_POSTGRES_URL (scripts/bench starts a server and sets it)", contender)
	}
	a, err := app.New(context.Background(), contender, app.Options{RedisURL: redisURL, PostgresURL: postgresURL, RoundTrips: rt})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	return a
}

// request returns the request of scenario carrying cookie (a Cookie header
// line, "" for none).
func request(scenario, cookie string) *http.Request {
	method, path := app.Route(scenario)
	r := httptest.NewRequest(method, path, nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	return r
}

// serve runs one request of scenario through a and fails unless it is
// answered 200.
func serve(tb testing.TB, a *app.App, scenario, cookie string) *httptest.ResponseRecorder {
	tb.Helper()
	w := httptest.NewRecorder()
	a.Echo.ServeHTTP(w, request(scenario, cookie))
	if w.Code != http.StatusOK {
		tb.Fatalf("%s: status %d: %s", scenario, w.Code, w.Body)
	}
	return w
}

// session runs the new scenario once and returns the Cookie header line
// that carries the session it made: the "existing session" of the other
// scenarios.
func session(tb testing.TB, a *app.App) string {
	tb.Helper()
	w := serve(tb, a, app.ScenarioNew, "")
	var pairs []string
	for _, c := range w.Result().Cookies() {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return strings.Join(pairs, "; ")
}

// BenchmarkInProc serves each scenario of each contender in-process. The
// names are scenario=X/contender=Y so that each scenario's contenders run
// one after the other, and the report divides each by bare of the same
// scenario. Redis contenders also report their Redis round trips per
// request (redis-rt/op).
func BenchmarkInProc(b *testing.B) {
	for _, scenario := range app.Scenarios {
		b.Run("scenario="+scenario, func(b *testing.B) {
			for _, contender := range app.Contenders {
				if !app.HasScenario(contender, scenario) {
					continue
				}
				b.Run("contender="+contender, func(b *testing.B) {
					benchmark(b, contender, scenario)
				})
			}
		})
	}
}

func benchmark(b *testing.B, contender, scenario string) {
	rt := &app.RoundTrips{}
	a := newApp(b, contender, rt)
	cookie := ""
	if scenario != app.ScenarioNew {
		cookie = session(b, a)
		serve(b, a, scenario, cookie) // warm: pools, script cache
	}
	tmpl := request(scenario, cookie)
	ctx := tmpl.Context()
	rt.Take()
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		// A fresh request struct (gorilla/sessions stores its registry in
		// it), sharing the template's URL and headers, which nothing writes.
		w := httptest.NewRecorder()
		a.Echo.ServeHTTP(w, tmpl.WithContext(ctx))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
	if app.NeedsRedis(contender) {
		trips, _ := rt.Take()
		b.ReportMetric(float64(trips)/float64(n), "redis-rt/op")
	}
	if app.NeedsPostgres(contender) {
		trips, _ := rt.Take()
		b.ReportMetric(float64(trips)/float64(n), "pg-rt/op")
	}
}

// cpuTime returns the CPU time the process has used, user and system, in
// nanoseconds: every goroutine's, the garbage collector's included, but not
// the Redis server's. For the Redis contenders it separates the work done
// in the process from the time spent waiting for Redis.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// TestScenarios checks that every contender answers every scenario as
// expected: reads find the stored value, writes count up from the session's
// own counter.
func TestScenarios(t *testing.T) {
	for _, contender := range app.Contenders {
		t.Run(contender, func(t *testing.T) {
			a := newApp(t, contender, nil)
			cookie := session(t, a)
			if contender != "bare" && cookie == "" {
				t.Fatal("the new scenario set no cookie")
			}
			if got := serve(t, a, app.ScenarioRead, cookie).Body.String(); got != app.UserData {
				t.Errorf("read: got %q", got)
			}
			if app.HasScenario(contender, app.ScenarioReadCookieOnly) {
				if got := serve(t, a, app.ScenarioReadCookieOnly, cookie).Body.String(); got != app.CSRFToken {
					t.Errorf("read-cookie-only: got %q", got)
				}
			}
			want := "1"
			if got := serve(t, a, app.ScenarioWrite, cookie).Body.String(); got != want {
				t.Errorf("first write: got %q, want %q", got, want)
			}
			if len(app.CSRFToken) != 32 || len(app.UserData) != 200 {
				t.Errorf("the new scenario stores a %d-byte token and %d bytes of user data, want 32 and 200", len(app.CSRFToken), len(app.UserData))
			}
		})
	}
}

// TestRoundTrips counts, with a go-redis hook (sessionplus) or a counting
// redigo connection (scs), the Redis round trips of each request of the
// Redis contenders, and logs the commands. It fails if sessionplus makes
// more than its design allows: one HGETALL for a read, that read plus one
// write for a write, none for a request that touches only cookie fields.
func TestRoundTrips(t *testing.T) {
	// The largest number of round trips sessionplus may make per request.
	limits := map[string]map[string]int64{
		"sessionplus-redis": {app.ScenarioRead: 1, app.ScenarioWrite: 2, app.ScenarioNew: 1},
		"sessionplus-seed":  {app.ScenarioRead: 1, app.ScenarioWrite: 0, app.ScenarioNew: 1, app.ScenarioReadCookieOnly: 0},
		// PostgreSQL: one statement per load and per save.
		"sessionplus-postgres": {app.ScenarioRead: 1, app.ScenarioWrite: 2, app.ScenarioNew: 1},
	}
	for _, contender := range app.Contenders {
		if !app.NeedsRedis(contender) && !app.NeedsPostgres(contender) {
			continue
		}
		t.Run(contender, func(t *testing.T) {
			out := roundTripsOut(t)
			rt := &app.RoundTrips{Record: true}
			a := newApp(t, contender, rt)
			rt.Take() // opening: PING, SCRIPT LOAD
			for _, scenario := range app.Scenarios {
				if !app.HasScenario(contender, scenario) {
					continue
				}
				cookie := ""
				if scenario != app.ScenarioNew {
					cookie = session(t, a)
				}
				for i := range 3 { // the first request of a scenario may warm a cache
					rt.Take()
					serve(t, a, scenario, cookie)
					n, cmds := rt.Take()
					t.Logf("%-17s %-16s request %d: %d round trips: %s", contender, scenario, i+1, n, strings.Join(cmds, ", "))
					if limit, ok := limits[contender][scenario]; ok && i > 0 && n > limit {
						t.Errorf("%s %s: %d round trips, want at most %d", contender, scenario, n, limit)
					}
					fmt.Fprintf(out, "%s\t%s\t%d\t%d\t%s\n", contender, scenario, i+1, n, strings.Join(cmds, ", "))
				}
			}
		})
	}
}

// roundTripsOut returns where the round-trip table goes, tab-separated:
// the file BENCH_ROUNDTRIPS names (scripts/bench sets it for the report),
// appended to, or nowhere.
func roundTripsOut(t *testing.T) io.Writer {
	p := os.Getenv("BENCH_ROUNDTRIPS")
	if p == "" {
		return io.Discard
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// BenchmarkRedisFloor is one bare round trip of each Redis client, with no
// session library around it: go-redis (sessionplus's driver) reading a hash
// shaped like a sessionplus record with HGETALL, and redigo (scs's
// redisstore) reading a string value the size of an scs record with GET.
// It is the floor under the Redis contenders' figures.
func BenchmarkRedisFloor(b *testing.B) {
	if redisURL == "" {
		b.Skip("needs Redis: set SESSIONPLUS_REDIS_URL")
	}
	ctx := context.Background()
	b.Run("client=go-redis", func(b *testing.B) {
		ro, err := goredis.ParseURL(redisURL)
		if err != nil {
			b.Fatal(err)
		}
		ro.ContextTimeoutEnabled = true
		c := goredis.NewClient(ro)
		defer c.Close()
		key := "bench-floor:hash"
		if err := c.HSet(ctx, key, "csrf_token", app.CSRFToken, "user_id", "x", "user_data", app.UserData, "\x00expiry", "1").Err(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu0, n := cpuTime(), 0
		for b.Loop() {
			if err := c.HGetAll(ctx, key).Err(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
	})
	b.Run("client=redigo", func(b *testing.B) {
		pool := &redis.Pool{MaxIdle: 16, Dial: func() (redis.Conn, error) { return redis.DialURL(redisURL) }}
		defer pool.Close()
		key := "bench-floor:string"
		conn := pool.Get()
		_, err := conn.Do("SET", key, strings.Repeat("x", 350))
		conn.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		cpu0, n := cpuTime(), 0
		for b.Loop() {
			conn := pool.Get()
			_, err := redis.Bytes(conn.Do("GET", key))
			conn.Close()
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
	})
}
