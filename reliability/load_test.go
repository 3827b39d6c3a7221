package reliability

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadKinds are the backends of the load tests: the in-process memory
// store as a baseline, and every server-side backend.
var loadKinds = append([]string{"memory"}, serverKinds...)

// soakDuration is how long TestSoak runs per backend: SESSIONPLUS_SOAK
// (a Go duration; scripts/soak sets 30s), or 2.5 s by default (CI).
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("SESSIONPLUS_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SESSIONPLUS_SOAK=%q: %v", v, err)
		}
		return d
	}
	return 2500 * time.Millisecond
}

// heap returns the live heap and the number of goroutines after a full
// collection.
func heap() (alloc uint64, goroutines int) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}

// TestSoak: several clients, each with its own cookies, increment their own
// counter in the server-side session, one request after the other, for
// SESSIONPLUS_SOAK per backend. Every counter must end equal to the
// number of its client's successful requests, in the app and in the
// backend (no lost update), with no 5xx, and the process's live heap must
// not grow with the number of requests.
func TestSoak(t *testing.T) {
	d := soakDuration(t)
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) { testSoak(t, kind, d) })
	}
}

func testSoak(t *testing.T, kind string, d time.Duration) {
	const clients = 8
	b := newBackend(t, kind, false)
	a := newApp(t, appConfig{server: b.driverOptions(t, tuning{}), deadline: 5 * time.Second})
	type client struct {
		br             *browser
		user           string
		ok, fail, last int
		problems       []string
	}
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = &client{br: a.browser(), user: fmt.Sprintf("soak%d-%s", i, randomHex(6))}
		cs[i].br.login(t, cs[i].user)
	}
	var served atomic.Int64
	run := func(until time.Time) {
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				for time.Now().Before(until) {
					r := c.br.do("POST", "/incr", url.Values{})
					served.Add(1)
					if r.status != http.StatusOK {
						c.fail++
						if len(c.problems) < 5 {
							c.problems = append(c.problems, r.String())
						}
						continue
					}
					n := r.num("counter")
					if n != c.last+1 && len(c.problems) < 5 {
						c.problems = append(c.problems, fmt.Sprintf("increment returned %d after %d", n, c.last))
					}
					if u, _ := r.str("user"); u != c.user && len(c.problems) < 5 {
						c.problems = append(c.problems, fmt.Sprintf("increment answered for user %q", u))
					}
					c.ok++
					c.last = n
				}
			})
		}
		wg.Wait()
	}
	// Warm up (connection pools, scripts, the first allocations), then
	// measure.
	run(time.Now().Add(d / 10))
	heapBefore, gBefore := heap()
	servedBefore := served.Load()
	t0 := time.Now()
	run(t0.Add(d))
	elapsed := time.Since(t0)
	a.client.CloseIdleConnections()
	heapAfter, gAfter := heap()
	n := served.Load() - servedBefore

	ins := b.inspect(t)
	lost, fivexx := 0, 0
	for i, c := range cs {
		fivexx += c.fail
		for _, p := range c.problems {
			t.Errorf("client %d: %s", i, p)
		}
		r := c.br.do("GET", "/me", nil)
		if r.status != http.StatusOK || r.num("counter") != c.ok {
			t.Errorf("client %d: /me says %s, want counter %d (its successful increments)", i, r, c.ok)
		}
		if kind == "memory" {
			continue
		}
		rec, ok := ins.record(storageKey(b.scope, c.br.cookie(sessionCookie)))
		stored, _ := storedInt(rec["counter"])
		if !ok || int(stored) != c.ok {
			t.Errorf("client %d: the backend stores counter %d, want %d", i, stored, c.ok)
		}
		if int(stored) < c.ok {
			lost += c.ok - int(stored)
		}
	}
	if fivexx > 0 {
		t.Errorf("%d requests failed; want none", fivexx)
	}
	// Flat: the live heap may move by a few MiB (pools, caches, GC
	// timing), but not with every request.
	growth := int64(heapAfter) - int64(heapBefore)
	allowed := int64(8<<20) + 64*n
	if growth > allowed {
		t.Errorf("the live heap grew by %d KiB over %d requests (%d bytes per request); allowed %d KiB",
			growth>>10, n, growth/max(n, 1), allowed>>10)
	}
	if gAfter > gBefore+16 {
		t.Errorf("goroutines: %d before, %d after: a leak", gBefore, gAfter)
	}
	report(t, "backend", kind, "duration", elapsed.Round(time.Millisecond), "clients", clients,
		"requests served", n, "per second", fmt.Sprintf("%.0f", float64(n)/elapsed.Seconds()),
		"5xx", fivexx, "updates lost", lost,
		"live heap before", fmt.Sprintf("%.1f MiB", float64(heapBefore)/(1<<20)),
		"live heap after", fmt.Sprintf("%.1f MiB", float64(heapAfter)/(1<<20)),
		"heap growth per request", fmt.Sprintf("%d B", growth/max(n, 1)),
		"goroutines before/after", fmt.Sprintf("%d/%d", gBefore, gAfter), "panics", a.panics.Load())
}

// TestConcurrentFields: concurrent requests of one browser, each changing a
// different field of one server-side session, all land: every backend
// writes only the changed fields (a Redis hash, MongoDB $set, Firestore
// field paths, memcached gets+cas with retries).
func TestConcurrentFields(t *testing.T) {
	for _, kind := range loadKinds {
		t.Run(kind, func(t *testing.T) { testConcurrentFields(t, kind) })
	}
}

func testConcurrentFields(t *testing.T, kind string) {
	const writers, rounds = 8, 20
	b := newBackend(t, kind, false)
	a := newApp(t, appConfig{server: b.driverOptions(t, tuning{}), deadline: 5 * time.Second})
	br := a.browser()
	user := "fields-" + randomHex(6)
	br.login(t, user)

	last := make([]string, writers)
	var fails atomic.Int64
	for r := range rounds {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				v := fmt.Sprintf("v%d-%d-%s", w, r, randomHex(4))
				res := br.do("POST", "/set", url.Values{"field": {fmt.Sprintf("f%d", w)}, "value": {v}})
				if res.status != http.StatusOK {
					fails.Add(1)
					t.Errorf("writer %d round %d: %s", w, r, res)
					return
				}
				last[w] = v
			})
		}
		wg.Wait()
	}
	want := map[string]string{"user_id": user}
	for w, v := range last {
		want[fmt.Sprintf("f%d", w)] = v
	}
	lost := 0
	got := br.do("GET", "/dump", nil).fields()
	for k, v := range want {
		if got[k] != v {
			lost++
			t.Errorf("field %s: the app reads %q, want %q (the last value written)", k, got[k], v)
		}
	}
	if kind != "memory" {
		rec, ok := b.inspect(t).record(storageKey(b.scope, br.cookie(sessionCookie)))
		if !ok {
			t.Fatal("the session is not stored")
		}
		for k, v := range want {
			if s, _ := storedString(rec[k]); s != v {
				t.Errorf("field %s: the backend stores %q, want %q", k, s, v)
			}
		}
	}
	report(t, "backend", kind, "concurrent writers", writers, "rounds", rounds, "requests served", a.served.Load(),
		"5xx", fails.Load(), "updates lost", lost, "panics", a.panics.Load())
}
