package cookie_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

// FuzzDecode feeds arbitrary cookie values to Load: it must never panic, and
// every error must wrap ErrNotFound, so a bad cookie starts a new session
// instead of failing the request.
func FuzzDecode(f *testing.F) {
	st := newStore(f, "session", key2, key1)
	valid := save(f, newStore(f, "session", key1), map[string][]byte{"k": []byte("v")}, time.Now().Add(24*time.Hour))
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:len(valid)/2])
	f.Add(valid + valid)
	f.Add("")
	f.Add("=")
	f.Add("MTIzfA==") // "123|"
	f.Add("fHx8fHw=") // "|||||"
	f.Add("MXxhfGI=") // "1|a|b"
	f.Add(string(make([]byte, sessionplus.MaxCookieSize+1)))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, value string) {
		_, err := st.Load(ctx, value)
		if err != nil && !errors.Is(err, sessionplus.ErrNotFound) {
			t.Fatalf("Load(%q) = %v, want nil or an error wrapping ErrNotFound", value, err)
		}
	})
}

// FuzzDecodePayload signs arbitrary payloads with the store's key, so that
// they pass the MAC and reach the record decoding and the expiry check,
// which must never panic either.
func FuzzDecodePayload(f *testing.F) {
	st := newStore(f, "session", key1)
	f.Add(sessionplus.MarshalRecord(sessionplus.Record{
		Values: map[string][]byte{"a": []byte("1"), "b": nil},
		Expiry: time.Now().Add(time.Hour),
	}))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00})
	f.Add([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{1, 0xfe, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, payload []byte) {
		// Any record may come back (the root package checks its expiry),
		// or an error wrapping ErrNotFound, never another error or a panic.
		_, err := st.Load(ctx, signRaw(t, "session", key1, payload))
		if err != nil && !errors.Is(err, sessionplus.ErrNotFound) {
			t.Fatalf("Load = %v, want nil or an error wrapping ErrNotFound", err)
		}
	})
}

// FuzzRoundTrip saves records of arbitrary field names and values: each
// either loads back unchanged or is refused as too large.
func FuzzRoundTrip(f *testing.F) {
	st := newStore(f, "session", key1)
	f.Add("user", []byte("\x18alice"), "n", []byte{2, 4})
	f.Add("", []byte{}, "", []byte(nil))
	f.Add("a|b", []byte("|"), "\x00", []byte{0xff, 0})
	f.Add("k", bytes.Repeat([]byte("x"), 2200), "big", []byte("y"))
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	f.Fuzz(func(t *testing.T, name1 string, value1 []byte, name2 string, value2 []byte) {
		want := map[string][]byte{name1: value1, name2: value2}
		value, err := st.Save(ctx, "", sessionplus.Update{Kind: sessionplus.Create, Set: want, Expiry: exp})
		if errors.Is(err, sessionplus.ErrCookieTooLarge) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := len("session") + 1 + len(value); n > sessionplus.MaxCookieSize {
			t.Fatalf("Save returned a cookie of %d bytes", n)
		}
		rec, err := st.Load(ctx, value)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Values) != len(want) || !rec.Expiry.Equal(exp) {
			t.Fatalf("Load = %q, %v; want %q, %v", rec.Values, rec.Expiry, want, exp)
		}
		for k, v := range want {
			if got, ok := rec.Values[k]; !ok || !bytes.Equal(got, v) {
				t.Fatalf("field %q = %q, want %q", k, got, v)
			}
		}
	})
}
