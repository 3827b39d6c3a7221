package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

// recoveryBound is how soon after the backend is back the app must serve
// again, with no restart of its own.
const recoveryBound = 2 * time.Second

// fault is the timeline of one injected fault.
type fault struct {
	start  time.Time // the fault begins (SIGKILL sent, proxy switched)
	active time.Time // the fault is in full effect (the processes have exited)
	end    time.Time // the mending begins (restart, proxy back to pass)
	mended time.Time // the backend serves again (ready)
}

// faultStats are the figures of one fault.
type faultStats struct {
	requests, before, during, around, after int
	errDuring, errAround, errAfter          int
	cookieOnlyDuring, cookieOnlyOK          int
	recovery                                time.Duration
	lost                                    int
	slowest                                 time.Duration
	violations                              []string
}

func (s *faultStats) violate(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// analyze checks every request of the load against the fault's timeline:
//
//   - the app always answers, with 200 or 503;
//   - requests of cookie-owned fields only always get 200;
//   - a 200 of the server-side session shows the worker's own user: never an
//     empty session, unless dataLost and the request ended after the
//     backend was restarted empty (then it is a fresh session);
//   - a request inFault that needs the server-side session gets a 503;
//   - no 5xx before the fault, nor later than recoveryBound after it is
//     mended;
//   - counters never lose an update.
func analyze(l *load, f fault, dataLost bool, inFault func(r rec) bool) (*faultStats, []*counterCheck) {
	s := &faultStats{}
	var checks []*counterCheck
	var lastErr time.Time
	for _, w := range l.workers {
		c := &counterCheck{}
		checks = append(checks, c)
		for _, r := range w.records() {
			s.requests++
			s.slowest = max(s.slowest, r.elapsed())
			during := inFault(r)
			switch {
			case r.end.Before(f.start):
				s.before++
			case during:
				s.during++
			case !r.start.Before(f.mended):
				s.after++
			default:
				s.around++
			}
			if r.err != nil {
				s.violate("worker %d %s: no answer: %v", w.id, r.op, r.err)
				continue
			}
			if r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
				s.violate("worker %d %s at %s: status %d, want 200 or 503: %s", w.id, r.op, at(f, r.start), r.status, r.text)
			}
			if r.status >= 500 {
				switch {
				case during:
					s.errDuring++
				case !r.start.Before(f.mended):
					s.errAfter++
				default:
					s.errAround++
				}
			}
			if !needsServer(r.op) {
				if during {
					s.cookieOnlyDuring++
				}
				if r.status != http.StatusOK {
					s.violate("worker %d %s at %s: a request of cookie-owned fields only got %s (see TestKeepAliveOutageKeepsCookieOnlyRequests)", w.id, r.op, at(f, r.start), r)
				} else if during {
					s.cookieOnlyOK++
				}
				continue
			}
			fresh := false
			if r.status == http.StatusOK {
				user, ok := r.str("user")
				switch {
				case ok && user == w.user:
				case ok:
					s.violate("worker %d %s at %s: 200 with another user's session (%q)", w.id, r.op, at(f, r.start), user)
				case dataLost && r.end.After(f.end):
					fresh = true // the backend lost its data: a fresh session
				default:
					s.violate("worker %d %s at %s (until %s): 200 with an empty session: the failure was taken for \"no session\"",
						w.id, r.op, at(f, r.start), at(f, r.end))
				}
				if during && r.op != opLogin {
					s.violate("worker %d %s at %s: 200 while the backend was down", w.id, r.op, at(f, r.start))
				}
			} else {
				if !r.start.Before(f.mended) {
					lastErr = later(lastErr, r.end) // the app did not serve a request made after the mending
				}
				if r.end.Before(f.start) {
					s.violate("worker %d %s at %s: %s before the fault", w.id, r.op, at(f, r.start), r)
				}
				if r.start.After(f.mended.Add(recoveryBound)) {
					s.violate("worker %d %s at %s: %s more than %v after the backend was back", w.id, r.op, at(f, r.start), r, recoveryBound)
				}
			}
			c.observe(r, fresh, r.status != http.StatusOK && r.start.Before(f.end))
		}
		s.lost += c.lost
		for _, p := range c.problems {
			s.violate("worker %d: %s", w.id, p)
		}
	}
	if lastErr.After(f.mended) {
		s.recovery = lastErr.Sub(f.mended)
	}
	if s.recovery > recoveryBound {
		s.violate("the app served again %v after the backend was back, want at most %v", s.recovery, recoveryBound)
	}
	return s, checks
}

// overDeadline flags every request that took longer than the deadline
// (plus a second for the scheduling of a loaded machine): the deadline must
// cut off whatever hangs.
func overDeadline(l *load, f fault, deadline time.Duration, s *faultStats) {
	const slack = time.Second
	for _, w := range l.workers {
		for _, r := range w.records() {
			if r.elapsed() > deadline+slack {
				s.violate("worker %d %s at %s took %v, over the request deadline %v (+%v): %s (see TestFirestoreWriteFailureWithinDeadline)",
					w.id, r.op, at(f, r.start), r.elapsed().Round(time.Millisecond), deadline, slack, r)
			}
		}
	}
}

// at shows a time relative to the fault's start.
func at(f fault, t time.Time) string { return fmt.Sprintf("%+.3fs", t.Sub(f.start).Seconds()) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkStored reads each mixed worker's session from the backend directly:
// the user and the counter the worker saw last must be stored. When the
// backend lost its data (dataLost), a worker that has not logged in again
// since may hold no session, or one the backend no longer knows.
func checkStored(t *testing.T, b *backend, l *load, checks []*counterCheck, s *faultStats, dataLost bool) (survived, gone int) {
	ins := b.inspect(t)
	for i, w := range l.workers {
		if w.cookieOnly {
			continue
		}
		id := idOf(w.b.cookie(sessionCookie))
		if id == "" {
			if dataLost {
				gone++
			} else {
				s.violate("worker %d: no session cookie at the end", w.id)
			}
			continue
		}
		rec, ok := ins.record(storageKey(b.scope, w.b.cookie(sessionCookie)))
		if !ok {
			if dataLost {
				gone++
			} else {
				s.violate("worker %d: its session is not stored", w.id)
			}
			continue
		}
		user, _ := storedString(rec["user_id"])
		if user != w.user {
			s.violate("worker %d: stored user_id %q, want %q", w.id, user, w.user)
		} else {
			survived++
		}
		n, _ := storedInt(rec["counter"])
		c := checks[i]
		if int(n) < c.last {
			s.lost += c.last - int(n)
			s.violate("worker %d: stored counter %d, but a request already returned %d: updates lost", w.id, n, c.last)
		} else if int(n) > c.last+c.ambiguous {
			s.violate("worker %d: stored counter %d, want %d (+ at most %d failed increments that may have landed)", w.id, n, c.last, c.ambiguous)
		}
	}
	return survived, gone
}

// TestFaultServerRestart kills each backend's server (SIGKILL, as a crash)
// while an app serves a bounded load over loopback, keeps it down, starts it
// again from the same data directory, and checks every request of the load
// (see analyze) and, afterwards, what the backend stores: a session whose
// read failed was never written back, so every logged-in user_id is still
// there on the backends that keep their data (Redis with an fsynced
// append-only file, FerretDB); on the in-memory ones (memcached, the
// Firestore emulator) the restart loses the sessions and the app starts
// fresh ones, with no 5xx.
func TestFaultServerRestart(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) { testServerRestart(t, kind) })
	}
}

func testServerRestart(t *testing.T, kind string) {
	const deadline = time.Second
	b := newBackend(t, kind, false)
	srv := b.driverOptions(t, tuning{})
	srv["session_lifetime"] = "10s" // a keep-alive due every second: failed ones are logged, not fatal
	a := newApp(t, appConfig{server: srv, deadline: deadline})
	lost := !persistent(kind)
	l := startLoad(t, a, 6, 1, 2*time.Millisecond, lost)

	time.Sleep(700 * time.Millisecond)
	var f fault
	b.in.mu.Lock()
	f.start = time.Now()
	b.in.kill()
	f.active = time.Now()
	time.Sleep(2500 * time.Millisecond)
	f.end = time.Now()
	err := b.in.restart()
	f.mended = time.Now()
	b.in.mu.Unlock()
	if err != nil {
		l.halt()
		t.Fatalf("restarting the server: %v", err)
	}
	time.Sleep(recoveryBound + 500*time.Millisecond)
	l.halt()

	s, checks := analyze(l, f, lost, func(r rec) bool { return !r.start.Before(f.active) && !r.end.After(f.end) })
	survived, gone := checkStored(t, b, l, checks, s, lost)
	overDeadline(l, f, deadline, s)
	// The worker that touched only cookies is still logged in (its
	// keep-alives failed during the outage, which only logs).
	for _, w := range l.workers {
		if !w.cookieOnly {
			continue
		}
		r := w.b.do("GET", "/me", nil)
		user, _ := r.str("user")
		switch {
		case r.status != http.StatusOK:
			s.violate("cookie-only worker: /me after the restart: %s", r)
		case !lost && user != w.user:
			s.violate("cookie-only worker: /me after the restart shows user %q, want %q", user, w.user)
		}
	}
	for _, v := range s.violations {
		t.Error(v)
	}
	if a.panics.Load() != 0 {
		t.Errorf("%d panics", a.panics.Load())
	}
	if s.errDuring+s.errAround == 0 {
		t.Errorf("no request failed while the server was down: the fault was not injected")
	}
	report(t, "backend", kind, "data kept over the restart", !lost,
		"requests served", a.served.Load(), "failures injected", fmt.Sprintf("%d server process(es) killed", len(b.in.procs)),
		"outage", f.end.Sub(f.start).Round(time.Millisecond), "server restart", f.mended.Sub(f.end).Round(time.Millisecond),
		"requests before/during/around/after", fmt.Sprintf("%d/%d/%d/%d", s.before, s.during, s.around, s.after),
		"5xx during", s.errDuring, "5xx around (in flight at kill or restart)", s.errAround, "5xx after restart", s.errAfter,
		"cookie-only requests during the outage (200)", fmt.Sprintf("%d (%d)", s.cookieOnlyDuring, s.cookieOnlyOK),
		"app served again after", s.recovery.Round(time.Millisecond),
		"stored user_id survived", fmt.Sprintf("%d/%d", survived, 6), "sessions lost with the data (not logged in again)", gone,
		"updates lost", s.lost, "panics", a.panics.Load(),
		"slowest request", s.slowest.Round(time.Millisecond))
}

// TestFaultHang makes each backend hang, through a proxy that accepts
// connections and never answers (and swallows what the open ones carry),
// while an app with a request deadline serves a bounded load: every request
// that needs the server-side session gets a 503 by its deadline, requests of
// cookie-owned fields still get 200, and once the proxy relays again the
// app serves again. The Store of each driver is also called directly with
// a short deadline while the backend hangs: each call returns by it, with
// an error that is not "not found".
func TestFaultHang(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) { testHang(t, kind) })
	}
}

func testHang(t *testing.T, kind string) {
	const deadline = time.Second
	const slack = time.Second
	b := newBackend(t, kind, true)
	srv := b.driverOptions(t, tuning{})
	srv["session_lifetime"] = "10s"
	a := newApp(t, appConfig{server: srv, deadline: deadline})
	st := b.openStore(t, tuning{})
	key := b.scope + ":" + strings.Repeat("h", 43)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := st.Save(ctx, key, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: time.Now().Add(time.Minute)})
	cancel()
	if err != nil {
		t.Fatalf("direct Save before the hang: %v", err)
	}
	l := startLoad(t, a, 4, 1, 2*time.Millisecond, false)

	time.Sleep(500 * time.Millisecond)
	var f fault
	f.start = time.Now()
	b.via.set(hang)
	f.active = f.start

	// The Store itself honours its context.
	const ctxDeadline = 300 * time.Millisecond
	type call struct {
		name string
		do   func(ctx context.Context) error
	}
	calls := []call{
		{"Load", func(ctx context.Context) error { _, err := st.Load(ctx, key); return err }},
		{"Save", func(ctx context.Context) error {
			_, err := st.Save(ctx, key, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("2")}, Expiry: time.Now().Add(time.Minute)})
			return err
		}},
		{"Delete", func(ctx context.Context) error { return st.Delete(ctx, key) }},
	}
	var direct []string
	bound := ctxDeadline + slack
	if kind == "memcache" {
		bound = 300*time.Millisecond + slack // gomemcache takes no context: its timeout (300ms) bounds a round trip
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), ctxDeadline)
		t0 := time.Now()
		err := c.do(ctx)
		el := time.Since(t0)
		cancel()
		direct = append(direct, fmt.Sprintf("%s %v (ctx error: %v)", c.name, el.Round(time.Millisecond), errors.Is(err, context.DeadlineExceeded)))
		switch {
		case err == nil:
			t.Errorf("direct %s while the backend hangs succeeded", c.name)
		case errors.Is(err, sessionplus.ErrNotFound):
			t.Errorf("direct %s while the backend hangs: %v, which wraps ErrNotFound: a failure taken for \"no session\"", c.name, err)
		}
		if el > bound {
			t.Errorf("direct %s while the backend hangs returned after %v, want at most %v (context deadline %v)", c.name, el, bound, ctxDeadline)
		}
	}

	time.Sleep(time.Until(f.start.Add(2500 * time.Millisecond)))
	f.end = time.Now()
	b.via.set(pass)
	f.mended = f.end
	time.Sleep(recoveryBound + 500*time.Millisecond)
	l.halt()

	// In the fault: requests whose whole deadline fell within the hang.
	s, checks := analyze(l, f, false, func(r rec) bool {
		return !r.start.Before(f.active) && !r.start.Add(deadline).After(f.end)
	})
	checkStored(t, b, l, checks, s, false)
	overDeadline(l, f, deadline, s)
	for _, v := range s.violations {
		t.Error(v)
	}
	// A request counts as "during" only when its whole deadline fell in the
	// hang; on a loaded machine the server-session workers' requests can
	// all straddle its edges, so the fault shows in either count.
	if s.errDuring+s.errAround == 0 {
		t.Errorf("no request failed while the backend hung: the fault was not injected")
	}
	report(t, "backend", kind, "requests served", a.served.Load(), "failures injected", fmt.Sprintf("%d proxy(ies) hung for %v", len(b.via), f.end.Sub(f.start).Round(time.Millisecond)),
		"request deadline", deadline, "slowest request", s.slowest.Round(time.Millisecond),
		"requests before/during/around/after", fmt.Sprintf("%d/%d/%d/%d", s.before, s.during, s.around, s.after),
		"5xx during", s.errDuring, "5xx around", s.errAround, "5xx after", s.errAfter,
		"cookie-only requests during the hang (200)", fmt.Sprintf("%d (%d)", s.cookieOnlyDuring, s.cookieOnlyOK),
		"app served again after", s.recovery.Round(time.Millisecond), "updates lost", s.lost, "panics", a.panics.Load(),
		"direct Store calls, context deadline "+ctxDeadline.String(), strings.Join(direct, "; "))
}

// TestFaultFailedReadNeverWritesBack: a request whose read of the
// server-side session fails must never write that session back, even when
// the backend is reachable again by the time the request saves, and even
// when a careless handler ignores every error and changes the session. The
// backend is made unreachable through a proxy (so that in-memory backends
// keep their data), the request reads and fails, the backend comes back,
// the handler changes the session and answers 200; the response must be a
// 503 (a change was refused: a failed save is never reported as success),
// or the handler's 200 if it changed nothing, and the stored record must be
// exactly what it was: user_id survives.
func TestFaultFailedReadNeverWritesBack(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) { testNoWriteBack(t, kind) })
	}
}

func testNoWriteBack(t *testing.T, kind string) {
	b := newBackend(t, kind, true)
	// Fail fast while unreachable, so that the request is still alive
	// (deadline 10 s) when the backend is back.
	tu := tuning{memcacheTimeout: "300ms", firestoreTimeout: "500ms", mongoQuery: "serverSelectionTimeoutMS=500"}
	a := newApp(t, appConfig{server: b.driverOptions(t, tu), deadline: 10 * time.Second})
	ins := b.inspect(t)
	control := a.browser()
	control.login(t, "control-"+randomHex(6))

	modes := []struct {
		mode   string
		status int
	}{
		{"set", http.StatusServiceUnavailable},
		{"overwrite", http.StatusServiceUnavailable},
		{"delete", http.StatusServiceUnavailable},
		{"regenerate", http.StatusServiceUnavailable},
		{"save", http.StatusServiceUnavailable},
		{"none", http.StatusOK},
	}
	// One victim per mode, each logged in with a note of its own.
	type victim struct {
		br         *browser
		user       string
		key        string
		before     map[string][]byte
		gate       *gate
		done       chan reply
		loadErr    error
		mode       string
		wantStatus int
	}
	var vs []*victim
	for _, m := range modes {
		v := &victim{br: a.browser(), user: "victim-" + randomHex(6), mode: m.mode, wantStatus: m.status, done: make(chan reply, 1)}
		v.br.login(t, v.user)
		if r := v.br.do("POST", "/set", url.Values{"field": {"note"}, "value": {"note-" + randomHex(6)}}); r.status != http.StatusOK {
			t.Fatalf("set note: %v", r)
		}
		v.key = storageKey(b.scope, v.br.cookie(sessionCookie))
		var ok bool
		if v.before, ok = ins.record(v.key); !ok {
			t.Fatalf("%s: the session is not stored after login", m.mode)
		}
		vs = append(vs, v)
	}

	// The backend becomes unreachable; every victim's request reads and
	// fails, then waits.
	b.via.set(refuse)
	for _, v := range vs {
		name := v.mode + randomHex(4)
		v.gate = a.gate(name)
		go func() {
			v.done <- v.br.doHeader("POST", "/naive", url.Values{"mode": {v.mode}}, http.Header{"X-Gate": {name}})
		}()
	}
	for _, v := range vs {
		select {
		case v.loadErr = <-v.gate.loaded:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the request did not read within 15 s", v.mode)
		}
	}
	// The backend is back, and the app's client reaches it again, before
	// the requests go on: a write they attempted now would land.
	b.via.set(pass)
	waitServing(t, control)
	for _, v := range vs {
		close(v.gate.release)
	}

	kept := 0
	for _, v := range vs {
		r := <-v.done
		if v.loadErr == nil {
			t.Errorf("%s: the read of user_id succeeded while the backend was unreachable", v.mode)
		}
		if r.status != v.wantStatus {
			t.Errorf("%s: the careless handler's response is %s, want %d", v.mode, r, v.wantStatus)
		}
		for _, ck := range r.cookies {
			if ck.Name == sessionCookie {
				t.Errorf("%s: the response sets the %s cookie (%q) although the session could not be read", v.mode, sessionCookie, ck.String())
			}
		}
		after, ok := ins.record(v.key)
		switch {
		case !ok:
			t.Errorf("%s: the session was deleted by a request whose read failed", v.mode)
		case fmt.Sprint(pick(after)) != fmt.Sprint(pick(v.before)):
			t.Errorf("%s: the stored session changed:\nbefore %q\nafter  %q", v.mode, pick(v.before), pick(after))
		default:
			if u, _ := storedString(after["user_id"]); u == v.user {
				kept++
			}
		}
		if r := v.br.do("GET", "/me", nil); r.status != http.StatusOK || fmt.Sprint(r.body["user"]) != v.user {
			t.Errorf("%s: /me afterwards: %s, want the user %q", v.mode, r, v.user)
		}
	}
	report(t, "backend", kind, "requests served", a.served.Load(), "failures injected", "1 (the backend unreachable, then back)",
		"careless handlers (ignore errors, change the session)", len(modes),
		"stored user_id survived", fmt.Sprintf("%d/%d", kept, len(modes)), "panics", a.panics.Load())
}

// pick returns a record's session fields (bookkeeping fields left out).
func pick(rec map[string][]byte) map[string]string {
	out := map[string]string{}
	for _, k := range fieldNames(rec) {
		out[k] = string(rec[k])
	}
	return out
}

// waitServing waits until the browser's /me gets a 200.
func waitServing(t *testing.T, br *browser) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := br.do("GET", "/me", nil)
		if r.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not serve again within 10 s: %s", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
