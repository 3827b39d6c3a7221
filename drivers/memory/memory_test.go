package memory_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

func TestRegistered(t *testing.T) {
	if !slices.Contains(sessionplus.Drivers(), memory.Name) {
		t.Fatalf("sessionplus.Drivers() = %v, want it to include %q", sessionplus.Drivers(), memory.Name)
	}
	d, err := sessionplus.DefaultRegistry.Lookup(memory.Name)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", memory.Name, err)
	}
	if _, ok := d.(memory.Driver); !ok {
		t.Fatalf("Lookup(%q) = %T, want memory.Driver", memory.Name, d)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		opts    sessionplus.Options
		wantErr string // a substring of the error; "" for none
	}{
		{name: "ok, no keys", opts: nil},
		{name: "ok, empty options", opts: sessionplus.Options{}},
		{
			name: "ok, keys the root package sets",
			opts: sessionplus.Options{
				"cookie_name": "session",
				"secret_keys": [][]byte{[]byte(strings.Repeat("k", 32))},
				"logger":      slog.Default(),
			},
		},
		{name: "nok, unknown key", opts: sessionplus.Options{"url": "memory://"}, wantErr: `unknown key "url"`},
		{
			name:    "nok, unknown key next to the root package's keys",
			opts:    sessionplus.Options{"cookie_name": "session", "max_entries": 10},
			wantErr: `unknown key "max_entries"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := memory.Driver{}.Open(t.Context(), tt.opts)
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

// TestReclaim shows that expired records are reclaimed by later writes,
// without a background goroutine and without reading them.
func TestReclaim(t *testing.T) {
	const n = 1000
	st := memory.New()
	ctx := t.Context()
	expiry := time.Now().Add(500 * time.Millisecond)
	for i := range n {
		u := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: expiry}
		if _, err := st.Save(ctx, fmt.Sprintf("short-%d", i), u); err != nil {
			t.Fatal(err)
		}
	}
	if time.Now().Before(expiry) {
		if got := st.Len(); got != n {
			t.Fatalf("Len() = %d before the records expired, want %d", got, n)
		}
	}

	// Keep writing one live record, polling Len until only it is left.
	live := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"b": []byte("2")}, Expiry: time.Now().Add(time.Hour)}
	deadline := time.Now().Add(10 * time.Second)
	writes := 0
	for st.Len() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Len() = %d after %d writes over 10s, want 1: expired records are not reclaimed", st.Len(), writes)
		}
		for range 64 {
			if _, err := st.Save(ctx, "live", live); err != nil {
				t.Fatal(err)
			}
			writes++
		}
		time.Sleep(time.Millisecond) // poll interval
	}
	if _, err := st.Load(ctx, "live"); err != nil {
		t.Fatalf("the live record was lost in a sweep: %v", err)
	}
}

// TestReclaimDistinctKeys shows that writes under new tokens, which make
// the store grow, still sweep it.
func TestReclaimDistinctKeys(t *testing.T) {
	const n = 1000
	st := memory.New()
	ctx := t.Context()
	short := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"a": []byte("1")}, Expiry: time.Now().Add(50 * time.Millisecond)}
	for i := range n {
		if _, err := st.Save(ctx, fmt.Sprintf("short-%d", i), short); err != nil {
			t.Fatal(err)
		}
	}
	for !time.Now().After(short.Expiry) {
		time.Sleep(5 * time.Millisecond) // poll until the records have expired
	}

	// Sweeps come at most n writes apart, so 2n writes of new live records
	// leave only those.
	live := sessionplus.Update{Kind: sessionplus.Create, Set: map[string][]byte{"b": []byte("2")}, Expiry: time.Now().Add(time.Hour)}
	for i := range 2 * n {
		if _, err := st.Save(ctx, fmt.Sprintf("live-%d", i), live); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.Len(); got != 2*n {
		t.Fatalf("Len() = %d after %d expired and %d live records were saved, want %d: "+
			"expired records are not reclaimed while the store grows", got, n, 2*n, 2*n)
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
