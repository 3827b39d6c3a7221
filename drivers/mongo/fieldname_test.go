package mongo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEncodeField(t *testing.T) {
	tests := []struct{ name, key string }{
		{"user", "user"},
		{"user_id", "user_id"},
		{"ünïcødé ✓", "ünïcødé ✓"},
		{"with space", "with space"},
		{"a/b:c[0]`\\", "a/b:c[0]`\\"},
		{"_id", "_id"},
		{"", "%"},
		{".", "%2E"},
		{"a.b", "a%2Eb"},
		{"$x", "%24x"},
		{"a$", "a%24"},
		{"%", "%25"},
		{"%2E", "%252E"},
		{"a\x00b", "a%00b"},
		{"\t\n\x7f", "%09%0A%7F"},
		{"\xff\xfeé", "%FF%FEé"},
	}
	for _, tt := range tests {
		if got := encodeField(tt.name); got != tt.key {
			t.Errorf("encodeField(%q) = %q, want %q", tt.name, got, tt.key)
		}
		if got, err := decodeField(tt.key); err != nil || got != tt.name {
			t.Errorf("decodeField(%q) = %q, %v; want %q", tt.key, got, err, tt.name)
		}
	}
	for _, bad := range []string{"", "%2", "%zz", "a%", "%2e"} {
		if got, err := decodeField(bad); err == nil {
			t.Errorf("decodeField(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzFieldName checks that every name encodes to a key MongoDB takes as
// one path component, and decodes back.
func FuzzFieldName(f *testing.F) {
	for _, s := range []string{"", "user", "a.b", "$x", "%", "%%25", "\x00", "\xff", "é.ü$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		key := encodeField(name)
		if key == "" || strings.ContainsAny(key, ".$\x00") || !utf8.ValidString(key) {
			t.Fatalf("encodeField(%q) = %q: not a safe key", name, key)
		}
		got, err := decodeField(key)
		if err != nil || got != name {
			t.Fatalf("decodeField(encodeField(%q)) = %q, %v", name, got, err)
		}
	})
}

func TestValidToken(t *testing.T) {
	for tok, want := range map[string]bool{
		"session:abc":             true,
		"":                        false,
		"a\x00b":                  false,
		"a\xffb":                  false,
		strings.Repeat("a", 1024): true,
		strings.Repeat("a", 1025): false,
	} {
		if got := validToken(tok); got != want {
			t.Errorf("validToken(%.20q) = %v, want %v", tok, got, want)
		}
	}
}

func TestKeyLocks(t *testing.T) {
	var k keyLocks
	ctx := t.Context()
	unlock, err := k.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is free.
	unlockB, err := k.lock(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	// The same key waits, until its context ends.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held key = %v, want the context's error", err)
	}
	got := make(chan struct{})
	go func() {
		u, err := k.lock(ctx, "a")
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a held lock was taken")
	case <-time.After(20 * time.Millisecond):
	}
	unlock()
	<-got
	if n := k.len(); n != 0 {
		t.Errorf("%d locks left after every holder released, want 0", n)
	}
}
