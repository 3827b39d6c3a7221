package reliability

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Operations of the load.
const (
	opLogin    = "login"     // POST /login: the server-side session
	opMe       = "me"        // GET /me: reads the server-side session
	opIncr     = "incr"      // POST /incr: reads and writes the server-side session
	opPrefsGet = "prefs-get" // GET /prefs: cookie-owned fields only
	opPrefsSet = "prefs-set" // POST /prefs: cookie-owned fields only
)

// needsServer reports whether op needs the server-side session.
func needsServer(op string) bool { return op == opLogin || op == opMe || op == opIncr }

// rec is one request of the load.
type rec struct {
	op string
	reply
}

// worker is one client of the load: a browser of its own, logged in as its
// own user.
type worker struct {
	id         int
	b          *browser
	user       string
	cookieOnly bool // makes only requests of cookie-owned fields

	mu   sync.Mutex
	recs []rec
}

func (w *worker) add(op string, r reply) {
	w.mu.Lock()
	w.recs = append(w.recs, rec{op, r})
	w.mu.Unlock()
}

func (w *worker) records() []rec {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]rec(nil), w.recs...)
}

// load runs workers against an app until stopped.
type load struct {
	a       *app
	workers []*worker
	stop    chan struct{}
	wg      sync.WaitGroup
	relogin bool // log in again when the session comes back empty (a backend that lost its data)
}

// startLoad logs in n mixed workers and cookieOnly workers that touch only
// cookie-owned fields, then starts them: each makes its requests one after
// the other, with a pause of pause between them.
func startLoad(t testing.TB, a *app, n, cookieOnly int, pause time.Duration, relogin bool) *load {
	t.Helper()
	l := &load{a: a, stop: make(chan struct{}), relogin: relogin}
	for i := range n + cookieOnly {
		w := &worker{id: i, b: a.browser(), user: fmt.Sprintf("u%d-%s", i, randomHex(6)), cookieOnly: i >= n}
		r := w.b.do("POST", "/login", url.Values{"user": {w.user}})
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("worker %d: login: %v", i, r)
		}
		w.add(opLogin, r)
		l.workers = append(l.workers, w)
	}
	for _, w := range l.workers {
		l.wg.Go(func() { l.run(w, pause) })
	}
	return l
}

func (l *load) run(w *worker, pause time.Duration) {
	ops := []string{opMe, opIncr, opPrefsGet, opIncr, opPrefsSet}
	if w.cookieOnly {
		ops = []string{opPrefsGet, opPrefsSet}
	}
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		op := ops[i%len(ops)]
		var r reply
		switch op {
		case opMe:
			r = w.b.do("GET", "/me", nil)
		case opIncr:
			r = w.b.do("POST", "/incr", url.Values{})
		case opPrefsGet:
			r = w.b.do("GET", "/prefs", nil)
		case opPrefsSet:
			r = w.b.do("POST", "/prefs", url.Values{"theme": {fmt.Sprintf("theme-%d-%d", w.id, i)}})
		}
		w.add(op, r)
		if _, ok := r.str("user"); l.relogin && needsServer(op) && r.status == http.StatusOK && !ok {
			w.add(opLogin, w.b.do("POST", "/login", url.Values{"user": {w.user}}))
		}
		time.Sleep(pause)
	}
}

// halt stops the workers and waits for them.
func (l *load) halt() {
	close(l.stop)
	l.wg.Wait()
}

// counterCheck follows a worker's counter through its requests: every
// successful increment must return the previous value plus one (plus the
// increments of failed requests that may have landed, ambiguous), and no
// value may repeat or go back: that would be a lost update.
type counterCheck struct {
	last      int // the last value seen
	ambiguous int // failed increments that may have landed since
	successes int
	lost      int
	problems  []string
	history   []string // the last requests seen, for the problems' messages
	fresh     bool     // the session came back empty (the backend lost it) and the worker has not logged in again
}

// observe follows one request; mayHaveLanded says whether a failed
// increment may have been applied (it was under way when the fault hit).
func (c *counterCheck) observe(r rec, fresh, mayHaveLanded bool) {
	c.history = append(c.history, fmt.Sprintf("%s %s %s", r.start.Format("15:04:05.000"), r.op, r.reply))
	if len(c.history) > 8 {
		c.history = c.history[1:]
	}
	defer func() {
		if n := len(c.problems); n > 0 && !strings.Contains(c.problems[n-1], "\n") {
			c.problems[n-1] += "; the requests until then:\n\t" + strings.Join(c.history, "\n\t")
		}
	}()
	switch {
	case r.op == opIncr && r.status == http.StatusOK:
		n := r.num("counter")
		c.successes++
		if fresh && !c.fresh {
			c.last, c.ambiguous = 0, 0 // the backend lost the session: a new one starts
		}
		c.fresh = fresh
		switch {
		case n == c.last+1:
		case n > c.last+1 && n-c.last-1 <= c.ambiguous:
			c.ambiguous -= n - c.last - 1
		case n <= c.last:
			c.lost += c.last + 1 - n
			c.problems = append(c.problems, fmt.Sprintf("increment returned %d after %d: an update was lost", n, c.last))
		default:
			c.problems = append(c.problems, fmt.Sprintf("increment returned %d after %d with %d failed increments that may have landed", n, c.last, c.ambiguous))
		}
		c.last = n
	case r.op == opIncr && mayHaveLanded:
		c.ambiguous++
	case r.op == opMe && r.status == http.StatusOK:
		if fresh && !c.fresh {
			c.last, c.ambiguous = r.num("counter"), 0
		}
		c.fresh = fresh
	case r.op == opLogin && r.status == http.StatusOK:
		c.fresh = false
	}
}
