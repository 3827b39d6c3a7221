package cookie_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/cookie"
)

var (
	key1 = bytes.Repeat([]byte{'1'}, sessionplus.MinSecretKeyLen)
	key2 = bytes.Repeat([]byte{'2'}, sessionplus.MinSecretKeyLen)
)

func newStore(t testing.TB, name string, keys ...[]byte) *cookie.Store {
	t.Helper()
	st, err := cookie.New(name, keys)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	return st
}

func save(t testing.TB, st *cookie.Store, values map[string][]byte, expiry time.Time) string {
	t.Helper()
	v, err := st.Save(context.Background(), "", sessionplus.Update{Kind: sessionplus.Create, Set: values, Expiry: expiry})
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	return v
}

func wantNotFound(t *testing.T, st *cookie.Store, value string) {
	t.Helper()
	rec, err := st.Load(context.Background(), value)
	if !errors.Is(err, sessionplus.ErrNotFound) {
		t.Fatalf("Load = %v, %v; want an error wrapping ErrNotFound", rec, err)
	}
}

// signRaw signs and encrypts payload for cookie name the way the store does,
// without the store's checks, to build values the store never issues.
func signRaw(t testing.TB, name string, secret, payload []byte) string {
	t.Helper()
	sc := securecookie.New(sessionplus.DeriveKey(secret, "secure_cookie hash"), sessionplus.DeriveKey(secret, "secure_cookie block"))
	sc.SetSerializer(securecookie.NopEncoder{}).MaxLength(0)
	v, err := sc.Encode(name, payload)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	st := newStore(t, "session", key1)
	want := map[string][]byte{
		"user":  []byte("\x18alice"),
		"bin":   {0, 1, 2, 0xff, '|'},
		"empty": {},
		"":      []byte("empty name"),
	}
	expiry := time.Now().Add(time.Hour).Truncate(time.Second)
	value := save(t, st, want, expiry)
	if strings.ContainsAny(value, "; ,\"\\") {
		t.Errorf("value %q is not a valid cookie value", value)
	}
	rec, err := st.Load(context.Background(), value)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(rec.Values, want, bytes.Equal) {
		t.Errorf("Values = %q, want %q", rec.Values, want)
	}
	if !rec.Expiry.Equal(expiry) {
		t.Errorf("Expiry = %v, want %v", rec.Expiry, expiry)
	}

	// Saving again replaces the record, and each value is different (random IV).
	value2 := save(t, st, map[string][]byte{"user": []byte("bob")}, expiry)
	if value2 == value {
		t.Error("two saves gave the same value")
	}
	rec, err = st.Load(context.Background(), value2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Values) != 1 || string(rec.Values["user"]) != "bob" {
		t.Errorf("Values = %q after a replace", rec.Values)
	}

	// An empty record round-trips too.
	rec, err = st.Load(context.Background(), save(t, st, nil, expiry))
	if err != nil || len(rec.Values) != 0 {
		t.Errorf("Load of an empty record = %q, %v", rec.Values, err)
	}
}

func TestEncrypted(t *testing.T) {
	st := newStore(t, "session", key1)
	secret := "top-secret-field-value"
	value := save(t, st, map[string][]byte{"k": []byte(secret)}, time.Now().Add(time.Hour))
	outer, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitN(outer, []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("unexpected layout %q", outer)
	}
	inner, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(outer, []byte(secret)) || bytes.Contains(inner, []byte(secret)) {
		t.Error("the field value appears in clear in the cookie")
	}
}

func TestCookieNameBound(t *testing.T) {
	a := newStore(t, "a", key1)
	b := newStore(t, "b", key1)
	value := save(t, a, map[string][]byte{"k": []byte("v")}, time.Now().Add(time.Hour))
	if _, err := a.Load(context.Background(), value); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, b, value)
}

func TestRejected(t *testing.T) {
	st := newStore(t, "session", key1)
	value := save(t, st, map[string][]byte{"k": []byte("v")}, time.Now().Add(time.Hour))

	mid := len(value) / 2
	other := byte('A')
	if value[mid] == 'A' {
		other = 'B'
	}
	changed := value[:mid] + string(other) + value[mid+1:]

	outer, _ := base64.URLEncoding.DecodeString(value)
	parts := bytes.SplitN(outer, []byte("|"), 3)
	// A valid MAC over a timestamp and value, moved under another timestamp.
	retimed := base64.URLEncoding.EncodeToString(slices.Concat([]byte("1|"), parts[1], []byte("|"), parts[2]))
	// The right MAC for a payload under another key.
	otherKey := signRaw(t, "session", key2, sessionplus.MarshalRecord(sessionplus.Record{Expiry: time.Now().Add(time.Hour)}))
	// Valid MACs over payloads that are not records.
	notRecord := signRaw(t, "session", key1, []byte("not a record"))
	emptyPayload := signRaw(t, "session", key1, nil)
	// A valid value over the size limit.
	big := signRaw(t, "session", key1, sessionplus.MarshalRecord(sessionplus.Record{
		Values: map[string][]byte{"k": bytes.Repeat([]byte("x"), 3000)},
		Expiry: time.Now().Add(time.Hour),
	}))
	if len(big) <= sessionplus.MaxCookieSize {
		t.Fatalf("big value is only %d bytes", len(big))
	}

	for name, v := range map[string]string{
		"empty":           "",
		"garbage":         "garbage",
		"not base64":      "!!!!",
		"pipes":           base64.URLEncoding.EncodeToString([]byte("||")),
		"no mac":          base64.URLEncoding.EncodeToString([]byte("1|x")),
		"changed byte":    changed,
		"truncated":       value[:len(value)-1],
		"truncated half":  value[:len(value)/2],
		"extended":        value + "A",
		"doubled":         value + value,
		"retimed":         retimed,
		"other key":       otherKey,
		"not a record":    notRecord,
		"empty payload":   emptyPayload,
		"oversized":       strings.Repeat("A", sessionplus.MaxCookieSize+1),
		"oversized valid": big,
	} {
		t.Run(name, func(t *testing.T) { wantNotFound(t, st, v) })
	}
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	old := newStore(t, "session", key1)
	rotated := newStore(t, "session", key2, key1)
	dropped := newStore(t, "session", key2)
	exp := time.Now().Add(time.Hour)

	oldValue := save(t, old, map[string][]byte{"k": []byte("old")}, exp)
	rec, err := rotated.Load(ctx, oldValue)
	if err != nil {
		t.Fatalf("a value under the old key does not load after rotation: %v", err)
	}
	if string(rec.Values["k"]) != "old" {
		t.Errorf("Values = %q", rec.Values)
	}
	wantNotFound(t, dropped, oldValue)

	// The rotated store writes with the new key only.
	newValue := save(t, rotated, map[string][]byte{"k": []byte("new")}, exp)
	if _, err := dropped.Load(ctx, newValue); err != nil {
		t.Errorf("a value under the new key does not load: %v", err)
	}
	wantNotFound(t, old, newValue)
}

func TestTooLarge(t *testing.T) {
	st := newStore(t, "session", key1)
	exp := time.Now().Add(time.Hour)
	_, err := st.Save(context.Background(), "", sessionplus.Update{
		Set:    map[string][]byte{"k": bytes.Repeat([]byte("x"), 4096)},
		Expiry: exp,
		Kind:   sessionplus.Create,
	})
	if !errors.Is(err, sessionplus.ErrCookieTooLarge) {
		t.Fatalf("Save = %v, want an error wrapping ErrCookieTooLarge", err)
	}
	if !strings.Contains(err.Error(), "4096") {
		t.Errorf("error %q does not give the limit", err)
	}

	// Find the largest field that fits: its cookie is at the limit, and one
	// more byte is an error.
	n := 0
	for size := 1 << 12; size > 0; size >>= 1 {
		_, err := st.Save(context.Background(), "", sessionplus.Update{
			Kind: sessionplus.Create, Set: map[string][]byte{"k": make([]byte, n+size)}, Expiry: exp,
		})
		if err == nil {
			n += size
		} else if !errors.Is(err, sessionplus.ErrCookieTooLarge) {
			t.Fatal(err)
		}
	}
	value := save(t, st, map[string][]byte{"k": make([]byte, n)}, exp)
	if total := len("session") + 1 + len(value); total > sessionplus.MaxCookieSize || total < sessionplus.MaxCookieSize-8 {
		t.Errorf("largest cookie is %d bytes, want just under %d", total, sessionplus.MaxCookieSize)
	}
	if _, err := st.Load(context.Background(), value); err != nil {
		t.Errorf("largest cookie does not load: %v", err)
	}
	t.Logf("largest field value that fits: %d bytes", n)
}

func TestSaveNeedsCreate(t *testing.T) {
	st := newStore(t, "session", key1)
	for name, u := range map[string]sessionplus.Update{
		"field write": {Kind: sessionplus.Write, Set: map[string][]byte{"k": []byte("v")}, Expiry: time.Now().Add(time.Hour)},
		"keep-alive":  {Kind: sessionplus.Touch, Expiry: time.Now().Add(time.Hour)},
		"no kind":     {Set: map[string][]byte{"k": []byte("v")}, Expiry: time.Now().Add(time.Hour)},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := st.Save(context.Background(), "", u)
			if err == nil || !strings.Contains(err.Error(), "whole records") {
				t.Errorf("Save = %q, %v; want the whole-records error", v, err)
			}
		})
	}
}

func TestDeleteAndClientSide(t *testing.T) {
	st := newStore(t, "session", key1)
	if err := st.Delete(context.Background(), "anything"); err != nil {
		t.Errorf("Delete = %v", err)
	}
	var s sessionplus.Store = st
	cs, ok := s.(sessionplus.ClientSide)
	if !ok || !cs.ClientSide() {
		t.Error("Store does not report ClientSide")
	}
}

func TestConcurrent(t *testing.T) {
	st := newStore(t, "session", key2, key1)
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				want := fmt.Sprint(i, "/", j)
				v, err := st.Save(context.Background(), "", sessionplus.Update{
					Kind: sessionplus.Create, Set: map[string][]byte{"k": []byte(want)}, Expiry: exp,
				})
				if err != nil {
					t.Error(err)
					return
				}
				rec, err := st.Load(context.Background(), v)
				if err != nil || string(rec.Values["k"]) != want {
					t.Errorf("Load = %q, %v; want %q", rec.Values, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNew(t *testing.T) {
	short := make([]byte, sessionplus.MinSecretKeyLen-1)
	tests := []struct {
		name    string
		cookie  string
		keys    [][]byte
		wantErr string
	}{
		{name: "ok, one key", cookie: "session", keys: [][]byte{key1}},
		{name: "ok, two keys", cookie: "session", keys: [][]byte{key2, key1}},
		{name: "ok, long key", cookie: "session", keys: [][]byte{make([]byte, 100)}},
		{name: "nok, empty cookie name", cookie: "", keys: [][]byte{key1}, wantErr: "cookie: empty cookie name"},
		{name: "nok, nil keys", cookie: "session", keys: nil, wantErr: "no secret keys"},
		{name: "nok, empty keys", cookie: "session", keys: [][]byte{}, wantErr: "no secret keys"},
		{name: "nok, short key", cookie: "session", keys: [][]byte{short}, wantErr: "secret key 0 is 31 bytes, need at least 32"},
		{name: "nok, short old key", cookie: "session", keys: [][]byte{key1, short}, wantErr: "secret key 1 is 31 bytes, need at least 32"},
		{name: "nok, nil key", cookie: "session", keys: [][]byte{nil}, wantErr: "secret key 0 is 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := cookie.New(tt.cookie, tt.keys)
			if tt.wantErr == "" {
				if err != nil || st == nil {
					t.Fatalf("New = %v, %v", st, err)
				}
				// The store works at once: no error deferred to the first Save.
				v := save(t, st, map[string][]byte{"k": []byte("v")}, time.Now().Add(time.Hour))
				if _, err := st.Load(context.Background(), v); err != nil {
					t.Fatal(err)
				}
				return
			}
			if st != nil {
				t.Errorf("New returned a store with error %v", err)
			}
			if !errors.Is(err, sessionplus.ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "cookie: ") {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewDoesNotKeepSecret(t *testing.T) {
	k := bytes.Clone(key1)
	st := newStore(t, "session", k)
	v := save(t, st, map[string][]byte{"k": []byte("v")}, time.Now().Add(time.Hour))
	clear(k) // the caller reuses its buffer
	if _, err := st.Load(context.Background(), v); err != nil {
		t.Errorf("store depends on the caller's key buffer: %v", err)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name    string
		cfg     sessionplus.DriverConfig
		wantErr string
	}{
		{name: "ok", cfg: sessionplus.DriverConfig{Name: "x", SecretKeys: [][]byte{key1}}},
		{name: "ok, rotation", cfg: sessionplus.DriverConfig{Name: "x", SecretKeys: [][]byte{key2, key1}}},
		{name: "ok, no keys of its own", cfg: sessionplus.DriverConfig{Options: sessionplus.Options{}, Name: "x", SecretKeys: [][]byte{key1}}},
		{
			name:    "nok, unknown key",
			cfg:     sessionplus.DriverConfig{Options: sessionplus.Options{"collection": "sessions"}, Name: "x", SecretKeys: [][]byte{key1}},
			wantErr: `unknown key "collection"`,
		},
		{
			name:    "nok, misspelt common key",
			cfg:     sessionplus.DriverConfig{Options: sessionplus.Options{"secret_key": "k"}, Name: "x", SecretKeys: [][]byte{key1}},
			wantErr: `unknown key "secret_key"`,
		},
		{name: "nok, no cookie name", cfg: sessionplus.DriverConfig{SecretKeys: [][]byte{key1}}, wantErr: "empty cookie name"},
		{name: "nok, no keys", cfg: sessionplus.DriverConfig{Name: "x"}, wantErr: "no secret keys"},
		{
			name:    "nok, short key",
			cfg:     sessionplus.DriverConfig{Name: "x", SecretKeys: [][]byte{[]byte("short")}},
			wantErr: "secret key 0 is 5 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := cookie.Driver{}.Open(context.Background(), tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := st.(*cookie.Store); !ok {
					t.Fatalf("Open returned %T", st)
				}
				v, err := st.Save(context.Background(), "", sessionplus.Update{
					Kind: sessionplus.Create, Set: map[string][]byte{"k": []byte("v")}, Expiry: time.Now().Add(time.Hour),
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.Load(context.Background(), v); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open error = %v, want one wrapping ErrConfig and containing %q", err, tt.wantErr)
			}
			if st != nil {
				t.Errorf("Open returned a store with error %v", err)
			}
		})
	}
}

// benchRecord is a typical small session: a user id, a name and a CSRF token.
func benchRecord() map[string][]byte {
	return map[string][]byte{
		"user_id": {2, 0x8e, 0x93, 0x02},
		"name":    []byte("\x18alice@example.com"),
		"csrf":    bytes.Repeat([]byte{0x80, 0xab}, 16),
	}
}

func BenchmarkSave(b *testing.B) {
	st := newStore(b, "session", key2, key1)
	u := sessionplus.Update{Kind: sessionplus.Create, Set: benchRecord(), Expiry: time.Now().Add(time.Hour)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Save(ctx, "", u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, bc := range []struct {
		name string
		keys [][]byte
	}{
		{"newest key", [][]byte{key1}},
		{"second key", [][]byte{key2, key1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			value := save(b, newStore(b, "session", key1), benchRecord(), time.Now().Add(time.Hour))
			st := newStore(b, "session", bc.keys...)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Load(ctx, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLoadTampered(b *testing.B) {
	st := newStore(b, "session", key1)
	value := save(b, st, benchRecord(), time.Now().Add(time.Hour))
	value = value[:len(value)-4] + "AAAA"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Load(ctx, value); err == nil {
			b.Fatal("tampered value loaded")
		}
	}
}
