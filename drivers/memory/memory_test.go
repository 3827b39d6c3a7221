package memory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

type harness struct{}

func (harness) MakeStore(context.Context) (sessionplus.Store, error) { return memory.New(), nil }
func (harness) Stateless() bool                                      { return false }
func (harness) Close()                                               {}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{}, nil
	})
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		opts    sessionplus.Options
		wantErr string // a substring of the error; "" for none
	}{
		{name: "ok, no keys", opts: nil},
		{name: "ok, empty options", opts: sessionplus.Options{}},
		{name: "nok, the logger as a key", opts: sessionplus.Options{"logger": slog.Default()}, wantErr: `unknown key "logger"`},
		{name: "ok, max_sessions", opts: sessionplus.Options{"max_sessions": 10}},
		{name: "ok, max_sessions from JSON", opts: sessionplus.Options{"max_sessions": float64(1000)}},
		{name: "nok, max_sessions zero", opts: sessionplus.Options{"max_sessions": 0}, wantErr: `key "max_sessions": expected a positive`},
		{name: "nok, max_sessions negative", opts: sessionplus.Options{"max_sessions": -1}, wantErr: `key "max_sessions": expected a positive`},
		{name: "nok, max_sessions with a fraction", opts: sessionplus.Options{"max_sessions": 10.5}, wantErr: `key "max_sessions": expected a whole number`},
		{name: "nok, max_sessions too large", opts: sessionplus.Options{"max_sessions": 1e20}, wantErr: `key "max_sessions"`},
		{name: "nok, max_sessions string", opts: sessionplus.Options{"max_sessions": "10"}, wantErr: `key "max_sessions": expected int`},
		{name: "nok, max_sessions nil", opts: sessionplus.Options{"max_sessions": nil}, wantErr: `key "max_sessions"`},
		{name: "nok, unknown key", opts: sessionplus.Options{"url": "memory://"}, wantErr: `unknown key "url"`},
		{
			name:    "nok, unknown key next to a known one",
			opts:    sessionplus.Options{"max_sessions": 10, "max_entries": 10},
			wantErr: `unknown key "max_entries"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := sessionplus.DriverConfig{Options: tt.opts, Name: "session", SecretKeys: [][]byte{[]byte(strings.Repeat("k", 32))}}
			st, err := memory.Driver{}.Open(t.Context(), cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if _, ok := st.(*memory.Store); !ok {
					t.Fatalf("Open returned %T, want *memory.Store", st)
				}
				return
			}
			if err == nil {
				t.Fatalf("Open succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.wantErr)
			}
			if !errors.Is(err, sessionplus.ErrConfig) {
				t.Errorf("Open error = %q, want it to wrap sessionplus.ErrConfig", err)
			}
			if st != nil {
				t.Errorf("Open returned a store (%T) along with its error", st)
			}
		})
	}
}

// TestZeroValue shows that a Store needs no constructor.
func TestZeroValue(t *testing.T) {
	var st memory.Store
	ctx := t.Context()
	if _, err := st.Load(ctx, "x"); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Fatalf("Load from a zero Store: %v, want ErrNotFound", err)
	}
	u := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: time.Now().Add(time.Hour)}
	if _, err := st.Save(ctx, "x", u); err != nil {
		t.Fatalf("Save to a zero Store: %v", err)
	}
	if _, err := st.Load(ctx, "x"); err != nil {
		t.Fatalf("Load after Save to a zero Store: %v", err)
	}
}

// clock is a time source that moves only when a test moves it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newStore returns a store of at most max records on clk's time, logging
// to logger (nil: a logger that drops everything).
func newStore(t *testing.T, max int, clk *clock, logger *slog.Logger) *memory.Store {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := memory.NewWithOptions(&memory.Options{MaxSessions: max, Logger: logger})
	if err != nil {
		t.Fatalf("NewWithOptions: %v", err)
	}
	if clk != nil {
		st.SetClock(clk.Now)
	}
	return st
}

func create(t *testing.T, st *memory.Store, token string, expiry time.Time) {
	t.Helper()
	u := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"user_id": []byte("value of " + token)}, Expiry: expiry}
	if _, err := st.Save(t.Context(), token, u); err != nil {
		t.Fatalf("Create %s: %v", token, err)
	}
}

// held returns which of tokens st holds a live record for.
func held(t *testing.T, st *memory.Store, tokens ...string) []string {
	t.Helper()
	var out []string
	for _, tok := range tokens {
		_, err := st.Load(t.Context(), tok)
		switch {
		case err == nil:
			out = append(out, tok)
		case !errors.Is(err, sessionplus.ErrNotFound):
			t.Fatalf("Load %s: %v", tok, err)
		}
	}
	return out
}

func TestNewWithOptions(t *testing.T) {
	if st, err := memory.NewWithOptions(nil); err != nil || st == nil {
		t.Fatalf("NewWithOptions(nil) = %v, %v; want a store", st, err)
	}
	_, err := memory.NewWithOptions(&memory.Options{MaxSessions: -1})
	if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), "MaxSessions") {
		t.Fatalf("NewWithOptions(MaxSessions: -1) error = %v, want an ErrConfig naming MaxSessions", err)
	}
}

// TestDefaultMaxSessions shows that a store made without options, and the
// zero Store, hold DefaultMaxSessions records.
func TestDefaultMaxSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("saves DefaultMaxSessions records; skipped under -short")
	}
	for name, st := range map[string]*memory.Store{"New": memory.New(), "zero value": new(memory.Store)} {
		t.Run(name, func(t *testing.T) {
			expiry := time.Now().Add(time.Hour)
			for i := range memory.DefaultMaxSessions + 1 {
				create(t, st, fmt.Sprintf("tok-%d", i), expiry)
			}
			if st.Len() != memory.DefaultMaxSessions || st.Evicted() != 1 {
				t.Fatalf("after %d Creates: Len() = %d, Evicted() = %d; want %d and 1",
					memory.DefaultMaxSessions+1, st.Len(), st.Evicted(), memory.DefaultMaxSessions)
			}
		})
	}
}

// TestMaxSessionsEvictsNearestExpiry shows that a Create of a new token in
// a full store evicts the record nearest to its expiry, that the evicted
// records are gone for Write, Touch and Delete as for Load, and that a
// Create over a held token evicts nothing.
func TestMaxSessionsEvictsNearestExpiry(t *testing.T) {
	clk := newClock()
	st := newStore(t, 5, clk, nil)
	ctx := t.Context()
	at := func(h int) time.Time { return clk.Now().Add(time.Duration(h) * time.Hour) }
	old := []string{"in5h", "in1h", "in4h", "in2h", "in3h"}
	for i, h := range []int{5, 1, 4, 2, 3} {
		create(t, st, old[i], at(h))
	}

	for i, want := range [][]string{
		{"in5h", "in4h", "in2h", "in3h"},
		{"in5h", "in4h", "in3h"},
		{"in5h", "in4h"},
	} {
		create(t, st, fmt.Sprintf("new-%d", i), at(10))
		if got := held(t, st, old...); !slices.Equal(got, want) {
			t.Fatalf("after %d Creates in a full store, held %v, want %v", i+1, got, want)
		}
		if st.Len() != 5 || st.Evicted() != uint64(i+1) {
			t.Fatalf("after %d Creates in a full store: Len() = %d, Evicted() = %d; want 5 and %d", i+1, st.Len(), st.Evicted(), i+1)
		}
	}

	write := sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"a": []byte("1")}, Expiry: at(10)}
	if _, err := st.Save(ctx, "in1h", write); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Write of an evicted record: %v, want ErrNotFound", err)
	}
	touch := sessionplus.Update{Kind: sessionplus.Touch, Expiry: at(10)}
	if _, err := st.Save(ctx, "in2h", touch); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Touch of an evicted record: %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, "in3h"); !errors.Is(err, sessionplus.ErrNotFound) {
		t.Errorf("Delete of an evicted record: %v, want ErrNotFound", err)
	}
	if got := held(t, st, "in1h", "in2h", "in3h"); got != nil || st.Len() != 5 {
		t.Fatalf("a Write, Touch or Delete brought back evicted records: held %v, Len() = %d", got, st.Len())
	}

	create(t, st, "new-0", at(20))
	if st.Evicted() != 3 || st.Len() != 5 {
		t.Fatalf("a Create over a held token in a full store: Evicted() = %d, Len() = %d; want 3 and 5", st.Evicted(), st.Len())
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestMaxSessionsKeepsTheNewRecord shows that a Create never evicts its
// own record, even when it is the one nearest to its expiry.
func TestMaxSessionsKeepsTheNewRecord(t *testing.T) {
	clk := newClock()
	st := newStore(t, 3, clk, nil)
	day := 24 * time.Hour
	create(t, st, "in29d", clk.Now().Add(29*day))
	create(t, st, "in30d", clk.Now().Add(30*day))
	create(t, st, "in31d", clk.Now().Add(31*day))
	create(t, st, "in1h", clk.Now().Add(time.Hour))
	if got, want := held(t, st, "in29d", "in30d", "in31d", "in1h"), []string{"in30d", "in31d", "in1h"}; !slices.Equal(got, want) {
		t.Fatalf("held %v, want %v", got, want)
	}
}

// TestMaxSessionsExpiredFirst shows that a full store drops an expired
// record before a live one, and does not count it as an eviction.
func TestMaxSessionsExpiredFirst(t *testing.T) {
	clk := newClock()
	st := newStore(t, 3, clk, nil)
	create(t, st, "a", clk.Now().Add(time.Hour))
	create(t, st, "b", clk.Now().Add(2*time.Hour))
	create(t, st, "c", clk.Now().Add(3*time.Hour))
	clk.Advance(90 * time.Minute) // a has expired
	create(t, st, "d", clk.Now().Add(time.Hour))
	if st.Len() != 3 || st.Evicted() != 0 {
		t.Fatalf("after a Create that found an expired record: Len() = %d, Evicted() = %d; want 3 and 0", st.Len(), st.Evicted())
	}
	create(t, st, "e", clk.Now().Add(time.Hour))
	if got, want := held(t, st, "b", "c", "d", "e"), []string{"c", "d", "e"}; !slices.Equal(got, want) || st.Evicted() != 1 {
		t.Fatalf("held %v and Evicted() = %d, want %v and 1", got, st.Evicted(), want)
	}
}

// TestEvictionLog shows that evictions are logged at most once every
// LogInterval, with counts and without tokens or values.
func TestEvictionLog(t *testing.T) {
	var buf bytes.Buffer
	clk := newClock()
	st := newStore(t, 2, clk, slog.New(slog.NewTextHandler(&buf, nil)))
	expiry := clk.Now().Add(time.Hour)
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }

	for i := range 12 { // 10 evictions
		create(t, st, fmt.Sprintf("secret-token-%d", i), expiry)
	}
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "level=WARN") ||
		!strings.Contains(got[0], "max_sessions=2 evicted=1 evicted_total=1") {
		t.Fatalf("after 10 evictions in an instant the log holds %q, want one warning of the first", got)
	}
	clk.Advance(memory.LogInterval - time.Second)
	create(t, st, "secret-token-12", expiry)
	if got := lines(); len(got) != 1 {
		t.Fatalf("an eviction within LogInterval of the last warning was logged: %q", got)
	}
	clk.Advance(time.Second)
	create(t, st, "secret-token-13", expiry)
	got := lines()
	if len(got) != 2 || !strings.Contains(got[1], "max_sessions=2 evicted=11 evicted_total=12") {
		t.Fatalf("after LogInterval the log holds %q, want a second warning counting the 11 evictions since the first", got)
	}
	if strings.Contains(buf.String(), "secret-token") || strings.Contains(buf.String(), "value of") {
		t.Fatalf("the log holds a token or a value: %q", buf.String())
	}
}

// TestOpenLogsToTheSessionLogger shows that a store opened by the driver
// warns through the logger the root package passes in DriverConfig.
func TestOpenLogsToTheSessionLogger(t *testing.T) {
	var buf bytes.Buffer
	cfg := sessionplus.DriverConfig{Options: sessionplus.Options{"max_sessions": 1}, Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	st, err := memory.Driver{}.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	create(t, st.(*memory.Store), "a", time.Now().Add(time.Hour))
	create(t, st.(*memory.Store), "b", time.Now().Add(time.Hour))
	if !strings.Contains(buf.String(), "evicted=1") {
		t.Fatalf("the session logger got %q, want a warning of the eviction", buf.String())
	}
}

// TestSweepIsBounded shows that one call sweeps at most two batches of
// expired records (its own shard's and another's), and that calls that
// only read a missing token reclaim every expired record in time, with no
// background goroutine.
func TestSweepIsBounded(t *testing.T) {
	const n = 1000
	clk := newClock()
	st := newStore(t, 0, clk, nil)
	for i := range n {
		create(t, st, fmt.Sprintf("tok-%d", i), clk.Now().Add(time.Hour))
	}
	clk.Advance(2 * time.Hour)
	loads := 0
	for st.Len() > 0 {
		if loads == 50*n {
			t.Fatalf("Len() = %d after %d Loads of another token, want 0: expired records are kept", st.Len(), loads)
		}
		before := st.Len()
		if _, err := st.Load(t.Context(), "missing"); !errors.Is(err, sessionplus.ErrNotFound) {
			t.Fatal(err)
		}
		loads++
		if swept := before - st.Len(); swept > 2*memory.SweepBatch {
			t.Fatalf("one Load swept %d records, want at most %d", swept, 2*memory.SweepBatch)
		}
	}
	t.Logf("%d expired records reclaimed by %d Loads", n, loads)
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSweepWhileGrowing shows that Creates of new tokens, which make the
// store grow, reclaim the expired records as they go.
func TestSweepWhileGrowing(t *testing.T) {
	const n = 1000
	clk := newClock()
	st := newStore(t, 0, clk, nil)
	for i := range n {
		create(t, st, fmt.Sprintf("short-%d", i), clk.Now().Add(time.Minute))
	}
	clk.Advance(time.Hour)
	for i := range 4 * n {
		create(t, st, fmt.Sprintf("live-%d", i), clk.Now().Add(time.Hour))
	}
	if got := st.Len(); got != 4*n {
		t.Fatalf("Len() = %d after %d expired and %d live records were saved, want %d", got, n, 4*n, 4*n)
	}
}

// TestConcurrentAtTheCap runs every operation at once on a small full
// store (under -race, the point of it), then checks the indexes.
func TestConcurrentAtTheCap(t *testing.T) {
	const (
		max        = 50
		goroutines = 8
	)
	st := newStore(t, max, nil, nil)
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range 3000 {
				tok := fmt.Sprintf("tok-%d", (i*7+g*13)%200)
				expiry := time.Now().Add(time.Duration(1+(i+g)%50) * time.Millisecond)
				var err error
				switch i % 5 {
				case 0, 1:
					_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: expiry})
				case 2:
					_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"b": []byte("2")}, Del: []string{"a"}, Expiry: expiry})
				case 3:
					_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry})
				case 4:
					if i%2 == 0 {
						_, err = st.Load(ctx, tok)
					} else {
						err = st.Delete(ctx, tok)
					}
				}
				if err != nil && !errors.Is(err, sessionplus.ErrNotFound) {
					t.Error(err)
					return
				}
				if n := st.Len(); n > max+goroutines {
					t.Errorf("Len() = %d, want at most MaxSessions (%d) plus one per Create at once (%d)", n, max, goroutines)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	values := map[string][]byte{"user": []byte("alice"), "cart": make([]byte, 512)}
	replace := sessionplus.Update{Kind: sessionplus.Create, Set: values, Expiry: time.Now().Add(time.Hour)}

	b.Run("Save", func(b *testing.B) {
		st := memory.New()
		i := 0
		for b.Loop() {
			if _, err := st.Save(ctx, fmt.Sprint(i%10000), replace); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Load", func(b *testing.B) {
		st := memory.New()
		if _, err := st.Save(ctx, "tok", replace); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := st.Load(ctx, "tok"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FieldWrite", func(b *testing.B) {
		st := memory.New()
		if _, err := st.Save(ctx, "tok", replace); err != nil {
			b.Fatal(err)
		}
		u := sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{"n": []byte("1")}, Expiry: time.Now().Add(time.Hour)}
		for b.Loop() {
			if _, err := st.Save(ctx, "tok", u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateAtTheCap", func(b *testing.B) {
		// A flood of logins: every Create evicts a record.
		st, err := memory.NewWithOptions(&memory.Options{MaxSessions: 10000, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			u := sessionplus.Update{Kind: sessionplus.Create, Set: values, Expiry: time.Now().Add(time.Hour)}
			if _, err := st.Save(ctx, strconv.Itoa(i), u); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if st.Len() > 10000 {
			b.Fatalf("Len() = %d over the cap", st.Len())
		}
	})
	b.Run("ParallelLoadSave", func(b *testing.B) {
		st := memory.New()
		b.RunParallel(func(pb *testing.PB) {
			tok := fmt.Sprintf("tok-%p", pb)
			for pb.Next() {
				if _, err := st.Save(ctx, tok, replace); err != nil {
					b.Error(err)
					return
				}
				if _, err := st.Load(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestAgainstModel sends random operations, on a moving clock, to a store
// and to a plain map that follows the contract, and compares every answer;
// the store's indexes are checked as it goes.
func TestAgainstModel(t *testing.T) {
	type record struct {
		values map[string][]byte
		expiry time.Time
	}
	clk := newClock()
	st := newStore(t, 0, clk, nil)
	ctx := t.Context()
	model := map[string]record{}
	rng := rand.New(rand.NewPCG(1, 2))
	live := func(tok string) (record, bool) {
		r, ok := model[tok]
		return r, ok && clk.Now().Before(r.expiry)
	}
	for i := range 20000 {
		tok := fmt.Sprintf("tok-%d", rng.IntN(300))
		expiry := clk.Now().Add(time.Duration(1+rng.IntN(600)) * time.Second)
		field := fmt.Sprintf("f%d", rng.IntN(4))
		var err, want error
		switch rng.IntN(6) {
		case 0:
			set := map[string][]byte{field: []byte(tok), "x": {}}
			_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: set, Expiry: expiry})
			model[tok] = record{values: maps.Clone(set), expiry: expiry}
		case 1:
			u := sessionplus.Update{Kind: sessionplus.Write, Set: map[string][]byte{field: []byte{byte(i)}}, Del: []string{"x"}, Expiry: expiry}
			_, err = st.Save(ctx, tok, u)
			if r, ok := live(tok); ok {
				r.values = maps.Clone(r.values)
				delete(r.values, "x")
				r.values[field] = []byte{byte(i)}
				model[tok] = record{values: r.values, expiry: expiry}
			} else {
				want = sessionplus.ErrNotFound
			}
		case 2:
			_, err = st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Touch, Expiry: expiry})
			if r, ok := live(tok); ok {
				model[tok] = record{values: r.values, expiry: expiry}
			} else {
				want = sessionplus.ErrNotFound
			}
		case 3:
			err = st.Delete(ctx, tok)
			if _, ok := live(tok); !ok {
				want = sessionplus.ErrNotFound
			}
			delete(model, tok)
			if errors.Is(err, sessionplus.ErrNotFound) && want == nil {
				t.Fatalf("op %d: Delete %s of a live record: %v", i, tok, err)
			}
			err, want = nil, nil // either answer is right for an expired record
		case 4:
			var rec sessionplus.Record
			rec, err = st.Load(ctx, tok)
			r, ok := live(tok)
			if !ok {
				want = sessionplus.ErrNotFound
			} else if err == nil && (!maps.EqualFunc(rec.Values, r.values, bytes.Equal) || !rec.Expiry.Equal(r.expiry)) {
				t.Fatalf("op %d: Load %s = %q until %v, want %q until %v", i, tok, rec.Values, rec.Expiry, r.values, r.expiry)
			}
		case 5:
			clk.Advance(time.Duration(rng.IntN(20)) * time.Second)
		}
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Fatalf("op %d on %s: error %v, want %v", i, tok, err, want)
		}
		if i%500 == 0 {
			if err := st.Check(); err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
		}
	}
}
