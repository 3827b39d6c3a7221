package userkey

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStored(t *testing.T) {
	edge := strings.Repeat("u", maxLen)
	kept := []string{"", "42", "alice@example.com", "héllo", edge, "x" + digestPrefix}
	for _, u := range kept {
		if got := Stored(u, utf8.ValidString); got != u {
			t.Errorf("Stored(%q) = %q, want the key as it is", u, got)
		}
	}
	hashed := []string{edge + "u", "bad-\xff", digestPrefix, digestPrefix + "abc"}
	seen := map[string]string{}
	for _, u := range hashed {
		got := Stored(u, utf8.ValidString)
		if !strings.HasPrefix(got, digestPrefix) || len(got) != len(digestPrefix)+43 {
			t.Errorf("Stored(%q) = %q, want the digest form", u, got)
		}
		if Stored(u, utf8.ValidString) != got {
			t.Errorf("Stored(%q) is not stable", u)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("Stored(%q) = Stored(%q)", u, prev)
		}
		seen[got] = u
	}
	if got := Stored("a\x00b", func(s string) bool { return !strings.Contains(s, "\x00") }); !strings.HasPrefix(got, digestPrefix) {
		t.Errorf("a key fits rejects is stored as %q, want the digest form", got)
	}
}

// TestNoCollision: a key equal to another key's digest form is hashed
// again, so it is never stored as that other key is.
func TestNoCollision(t *testing.T) {
	for _, a := range []string{strings.Repeat("a", 600), "bad-\xff-utf8"} {
		b := Stored(a, utf8.ValidString)
		if b == a {
			t.Fatalf("Stored of a %d-byte key returned it as it is", len(a))
		}
		if Stored(b, utf8.ValidString) == Stored(a, utf8.ValidString) {
			t.Errorf("the key %q, the digest form of another key, is stored as that key is", b)
		}
		if Stored(b, func(string) bool { return true }) == b {
			t.Errorf("a key with the digest prefix is kept as it is though fits accepts it")
		}
	}
}
