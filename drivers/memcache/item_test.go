package memcache

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionplus/sessionplus"
)

func TestExpiration(t *testing.T) {
	now := time.Unix(1_780_000_000, 0) // a whole second, so the numbers are exact
	const day = 24 * time.Hour
	tests := []struct {
		name    string
		expiry  time.Time
		want    int32
		wantSet bool // false: the record must be deleted, never set
	}{
		{name: "1 hour: relative seconds, less the margin", expiry: now.Add(time.Hour), want: 3600 - relativeMargin, wantSet: true},
		{name: "1 hour and a fraction: rounded down", expiry: now.Add(time.Hour + 900*time.Millisecond), want: 3600 - relativeMargin, wantSet: true},
		{name: "1 day", expiry: now.Add(day), want: 86400 - relativeMargin, wantSet: true},
		{name: "30 days: still relative", expiry: now.Add(30 * day), want: maxRelative - relativeMargin, wantSet: true},
		{name: "30 days and the margin: the largest relative", expiry: now.Add(30*day + relativeMargin*time.Second), want: maxRelative, wantSet: true},
		{
			name: "a second more: absolute Unix time", expiry: now.Add(30*day + (relativeMargin+1)*time.Second),
			want: int32(now.Add(30*day+(relativeMargin+1)*time.Second).Unix() - absoluteMargin), wantSet: true,
		},
		{name: "31 days: absolute Unix time", expiry: now.Add(31 * day), want: int32(now.Add(31*day).Unix() - absoluteMargin), wantSet: true},
		{name: "past 2038: capped", expiry: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), want: math.MaxInt32, wantSet: true},
		{name: "just over the margin", expiry: now.Add((relativeMargin + 1) * time.Second), want: 1, wantSet: true},
		{name: "within the margin: deleted", expiry: now.Add(relativeMargin * time.Second), wantSet: false},
		{name: "1 second: deleted", expiry: now.Add(time.Second), wantSet: false},
		{name: "now: deleted", expiry: now, wantSet: false},
		{name: "past: deleted", expiry: now.Add(-time.Hour), wantSet: false},
		{name: "zero time: deleted", expiry: time.Time{}, wantSet: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, set := expiration(tt.expiry, now)
			if set != tt.wantSet || (set && got != tt.want) {
				t.Errorf("expiration(now%+v) = %d, %v; want %d, %v", tt.expiry.Sub(now), got, set, tt.want, tt.wantSet)
			}
			if set && got > maxRelative && int64(got) < now.Unix() {
				t.Errorf("expiration = %d: an absolute time in the past", got)
			}
		})
	}
}

func TestItemEncoding(t *testing.T) {
	expiry := time.Unix(1_780_000_000, 0)
	rec := sessionplus.Record{Values: map[string][]byte{"a": []byte("1"), "empty": {}, "bin": {0, 0xff}}, Expiry: expiry}
	b := encodeItem(rec, "")
	got, user, err := decodeItem(b)
	if err != nil {
		t.Fatalf("decodeItem: %v", err)
	}
	if !got.Expiry.Equal(expiry) || len(got.Values) != 3 || !bytes.Equal(got.Values["bin"], []byte{0, 0xff}) {
		t.Fatalf("decodeItem = %+v, want %+v", got, rec)
	}
	if user != "" {
		t.Errorf("decodeItem of a record of no user = user %q, want none", user)
	}

	// Keep-alives append their expiries; the last one wins.
	later, latest := expiry.Add(time.Hour), expiry.Add(30*time.Minute)
	b = append(append(b, trailer(later)...), trailer(latest)...)
	got, _, err = decodeItem(b)
	if err != nil {
		t.Fatalf("decodeItem with trailers: %v", err)
	}
	if !got.Expiry.Equal(latest) {
		t.Errorf("expiry with trailers = %v, want the last one, %v", got.Expiry, latest)
	}
	if !bytes.Equal(got.Values["a"], []byte("1")) {
		t.Errorf("values with trailers = %q", got.Values)
	}

	for name, bad := range map[string][]byte{
		"empty":            {},
		"other version":    append([]byte{3}, b[1:]...),
		"cut record":       b[:5],
		"partial trailer":  b[:len(b)-3],
		"length too large": {itemVersion, 0xff, 0xff, 0x03, 1},
		"plain text":       []byte("hello"),
	} {
		if _, _, err := decodeItem(bad); err == nil {
			t.Errorf("decodeItem(%s) succeeded, want an error", name)
		}
	}
}

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"session:abc":                          true,
		"a":                                    true,
		"ünïcødé":                              true,
		string(make([]byte, 0)):                false,
		"a b":                                  false,
		"a\tb":                                 false,
		"a\x01b":                               false,
		"a\x7fb":                               false,
		string(bytes.Repeat([]byte{'k'}, 250)): true,
		string(bytes.Repeat([]byte{'k'}, 251)): false,
	} {
		if got := validKey(key); got != want {
			t.Errorf("validKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestUserItemEncoding(t *testing.T) {
	expiry := time.Unix(1_780_000_000, 0)
	rec := sessionplus.Record{Values: map[string][]byte{"user_id": []byte(`"alice"`), "\x00meta": []byte("s1")}, Expiry: expiry}
	want := "alice ü"
	b := encodeItem(rec, want)
	b = append(b, trailer(expiry.Add(time.Minute))...)
	got, user, err := decodeItem(b)
	if err != nil {
		t.Fatalf("decodeItem: %v", err)
	}
	if user != want || !got.Expiry.Equal(expiry.Add(time.Minute)) || string(got.Values["user_id"]) != `"alice"` {
		t.Errorf("decodeItem = %+v of %q, want the record of %q with the trailer's expiry", got, user, want)
	}
	for name, bad := range map[string][]byte{
		"empty user":     {userItemVersion, 0},
		"cut user":       b[:4],
		"cut reserved":   b[:1+1+len(want)+4],
		"user too large": {userItemVersion, 0xff, 0x01, 'a'},
	} {
		if _, _, err := decodeItem(bad); err == nil {
			t.Errorf("decodeItem(%s) succeeded, want an error", name)
		}
	}
}

// TestEarlierLayouts shows that the items and index entries of the earlier
// version of the driver, which held the deadline of each record's entry,
// read as this version's (the deadline ignored), and that this version
// writes, where the deadline was, one that the earlier version reads as
// never passing.
func TestEarlierLayouts(t *testing.T) {
	expiry := time.Unix(1_780_000_000, 0)
	rec := sessionplus.Record{Values: map[string][]byte{"user_id": []byte(`"alice"`)}, Expiry: expiry}
	deadline := uint64(expiry.Add(time.Hour).Unix())
	var old []byte // encodeItem of the earlier version
	old = append(old, userItemVersion)
	old = binary.AppendUvarint(old, uint64(len("alice")))
	old = append(old, "alice"...)
	old = binary.BigEndian.AppendUint64(old, deadline)
	m := sessionplus.MarshalRecord(rec)
	old = binary.AppendUvarint(old, uint64(len(m)))
	old = append(old, m...)
	old = append(old, trailer(expiry.Add(2*time.Hour))...)
	got, user, err := decodeItem(old)
	if err != nil || user != "alice" || !got.Expiry.Equal(expiry.Add(2*time.Hour)) || string(got.Values["user_id"]) != `"alice"` {
		t.Errorf("decodeItem of an item of the earlier version = %+v of %q, %v; want alice's record with the trailer's expiry", got, user, err)
	}
	if b := encodeItem(rec, "alice"); !bytes.Equal(b[:len(b)-len(m)-1], append(old[:1+1+len("alice")], 0x40, 0, 0, 0, 0, 0, 0, 0)) {
		t.Errorf("encodeItem writes % x ahead of the record, want the layout of the earlier version with deadline %#x", b[:len(b)-len(m)-1], uint64(noDeadline))
	}
	if d := time.Unix(noDeadline, 0); !d.After(time.Now().AddDate(1000, 0, 0)) {
		t.Errorf("time.Unix(noDeadline) = %v, which the earlier version reads as passing", d)
	}

	idx := []byte{indexVersion} // an index item of the earlier version
	for i, tok := range []string{"p:abc", "p:def"} {
		idx = binary.AppendUvarint(idx, uint64(len(tok)))
		idx = append(idx, tok...)
		idx = binary.BigEndian.AppendUint64(idx, uint64(1_000+i)) // deadlines long passed
		idx = binary.BigEndian.AppendUint64(idx, uint64(1_779_000_000+i))
	}
	es, err := decodeIndex(append(idx, appendEntry(nil, entry{"p:ghi", 1_779_000_009})...))
	want := []entry{{"p:abc", 1_779_000_000}, {"p:def", 1_779_000_001}, {"p:ghi", 1_779_000_009}}
	if err != nil || !slices.Equal(es, want) {
		t.Errorf("decodeIndex of an index item of the earlier version, appended to by this one = %v, %v; want %v", es, err, want)
	}
	if e := appendEntry(nil, entry{"p:ghi", 1}); binary.BigEndian.Uint64(e[len(e)-16:]) != noDeadline {
		t.Errorf("appendEntry writes the deadline %#x, want noDeadline", binary.BigEndian.Uint64(e[len(e)-16:]))
	}
}

func TestIndexEncoding(t *testing.T) {
	entries := []entry{{"p:abc", 1_779_000_000}, {"p:" + strings.Repeat("x", 200), 2}}
	b := encodeIndex(entries)
	got, err := decodeIndex(b)
	if err != nil || !slices.Equal(got, entries) {
		t.Fatalf("decodeIndex(encodeIndex(%v)) = %v, %v", entries, got, err)
	}
	if got, err := decodeIndex(encodeIndex(nil)); err != nil || len(got) != 0 {
		t.Errorf("decodeIndex of an empty index = %v, %v; want none", got, err)
	}
	for name, bad := range map[string][]byte{
		"empty":         {},
		"other version": append([]byte{9}, b[1:]...),
		"cut entry":     b[:len(b)-3],
		"empty token":   {indexVersion, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8},
	} {
		if _, err := decodeIndex(bad); err == nil {
			t.Errorf("decodeIndex(%s) succeeded, want an error", name)
		}
	}
}

func TestIndexKey(t *testing.T) {
	prefix := strings.Repeat("p", 206) // the longest key_prefix CheckKeyPrefix takes
	for _, user := range []string{"42", "a b", strings.Repeat("ü", 300), "\x00\n"} {
		k := indexKey(prefix, user)
		if !validKey(k) || len(k) != len(prefix)+43 {
			t.Errorf("indexKey(%d bytes, %q) = %d bytes, valid %v; want a valid key of %d bytes", len(prefix), user, len(k), validKey(k), len(prefix)+43)
		}
	}
	if indexKey("p", "42") == indexKey("p", "4") || indexKey("p", "42") == indexKey("q", "42") {
		t.Error("indexKey gives two users, or two prefixes, one key")
	}
	if got := prefixOf("a:b:" + strings.Repeat("x", 43)); got != "a:b" {
		t.Errorf("prefixOf = %q, want a:b", got)
	}
}
