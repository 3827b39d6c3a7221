package memcache

import (
	"bytes"
	"math"
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
	b := encodeItem(rec)
	got, err := decodeItem(b)
	if err != nil {
		t.Fatalf("decodeItem: %v", err)
	}
	if !got.Expiry.Equal(expiry) || len(got.Values) != 3 || !bytes.Equal(got.Values["bin"], []byte{0, 0xff}) {
		t.Fatalf("decodeItem = %+v, want %+v", got, rec)
	}

	// Keep-alives append their expiries; the last one wins.
	later, latest := expiry.Add(time.Hour), expiry.Add(30*time.Minute)
	b = append(append(b, trailer(later)...), trailer(latest)...)
	got, err = decodeItem(b)
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
		"other version":    append([]byte{2}, b[1:]...),
		"cut record":       b[:5],
		"partial trailer":  b[:len(b)-3],
		"length too large": {itemVersion, 0xff, 0xff, 0x03, 1},
		"plain text":       []byte("hello"),
	} {
		if _, err := decodeItem(bad); err == nil {
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
