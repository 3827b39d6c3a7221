package sessionplus

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseIDCookie: no input panics, and an accepted cookie under
// use_signer is one the keys signed.
func FuzzParseIDCookie(f *testing.F) {
	keys := [][]byte{DeriveKey([]byte(strings.Repeat("f", 32)), "session id signer")}
	good := idCookie{id: newID(), permanent: true, created: time.Unix(1_800_000_000, 0), due: time.Unix(1_900_000_000, 0)}
	f.Add(good.encode("s", keys), true)
	f.Add(good.encode("s", nil), false)
	f.Add("", true)
	f.Add(".", false)
	f.Add(good.id+".p", false)
	f.Fuzz(func(t *testing.T, v string, signed bool) {
		k := keys
		if !signed {
			k = nil
		}
		c, ok := parseIDCookie("s", v, k)
		if !ok {
			return
		}
		if !validID(c.id) {
			t.Fatalf("accepted an invalid id %q", c.id)
		}
		if signed && c.encode("s", k) != v {
			t.Fatalf("accepted %q, which is not what the key signs (%q)", v, c.encode("s", k))
		}
	})
}

// FuzzDecodeOptions: option decoding never panics on odd values.
func FuzzDecodeOptions(f *testing.F) {
	f.Add("24h", int64(3600), 1.5, true)
	f.Add("", int64(-1), 0.0, false)
	f.Fuzz(func(t *testing.T, s string, n int64, x float64, b bool) {
		for _, v := range []any{s, n, x, b, []any{s}, map[string]any{s: n}} {
			var co commonOptions
			decodeOptions(Options{"session_lifetime": v, "cookie_max_age": v, "cookie_httponly": v, "cookie_name": v, "session_fields": v}, &co)
			parseFields(v)
			parseSameSite(v)
			parseSecretKeys(v)
		}
	})
}

// FuzzDecodeValue: stored values never panic the decoder.
func FuzzDecodeValue(f *testing.F) {
	for _, v := range []any{"x", 1, int8(-1), uint16(9), 1.5, true, []byte{1}, time.Unix(0, 0), map[string]int{"a": 1}} {
		b, _ := encodeValue(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeAny(b)
		var s string
		decodeInto(b, &s)
		var m map[string]any
		decodeInto(b, &m)
		UnmarshalRecord(b)
	})
}
