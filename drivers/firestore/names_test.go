package firestore

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFieldNames(t *testing.T) {
	for name, key := range map[string]string{
		"user":         "user",
		"a.b":          "a.b",
		"":             "%",
		"%":            "%25",
		"__name__":     "%5F_name__",
		"__":           "%5F_",
		"_x":           "_x",
		"a__b__":       "a__b__",
		"ünï ✓":        "ünï ✓",
		"\x00\x1f\x7f": "%00%1F%7F",
		"\xff\xfe":     "%FF%FE",
		"a/b":          "a/b",
	} {
		if got := encodeField(name); got != key {
			t.Errorf("encodeField(%q) = %q, want %q", name, got, key)
		}
		if got := decodeField(key); got != name {
			t.Errorf("decodeField(%q) = %q, want %q", key, got, name)
		}
	}
	// Keys written by something else come back as they are.
	for _, key := range []string{"50%", "%zz", "%4"} {
		if got := decodeField(key); got != key {
			t.Errorf("decodeField(%q) = %q, want it unchanged", key, got)
		}
	}
}

// FuzzNames checks that the stored forms of field names and tokens are
// what Firestore accepts, and that field names come back unchanged.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", ".", "..", "__x__", "%", "a/b", "\xff", "session:abc", "%25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key := encodeField(s)
		if got := decodeField(key); got != s {
			t.Fatalf("decodeField(encodeField(%q)) = %q", s, got)
		}
		checkName(t, "field key", key)
		if id, ok := docID(s); ok {
			checkName(t, "document id", id)
			if strings.Contains(id, "/") || id == "." || id == ".." {
				t.Fatalf("docID(%q) = %q, which Firestore refuses", s, id)
			}
			// Ids escape like field names but for "/" and the dots of
			// "." and ".."; decoding gives the token back.
			if got := decodeField(id); got != s {
				t.Fatalf("docID(%q) = %q, which decodes to %q", s, id, got)
			}
		} else if s != "" && len(s) <= maxIDBytes/3 {
			t.Fatalf("docID(%q) refused a short token", s)
		}
	})
}

func checkName(t *testing.T, what, s string) {
	t.Helper()
	switch {
	case s == "":
		t.Fatalf("%s is empty", what)
	case !utf8.ValidString(s):
		t.Fatalf("%s %q is not valid UTF-8", what, s)
	case len(s) >= 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__"):
		t.Fatalf("%s %q matches __.*__", what, s)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		t.Fatalf("%s %q holds a control character", what, s)
	}
}

func TestCheckCollection(t *testing.T) {
	for path, ok := range map[string]bool{
		"sessions":           true,
		"apps/shop/sessions": true,
		"a b:c.d":            true,
		"":                   false,
		"apps/shop":          false,
		"a//b":               false,
		"/sessions":          false,
		".":                  false,
		"__x__":              false,
		"\xff":               false,
	} {
		if err := checkCollection(path); (err == nil) != ok {
			t.Errorf("checkCollection(%q) = %v, want ok=%v", path, err, ok)
		}
	}
}

// TestErrorsLeaveOutTheToken shows that an error whose message names the
// document (as Firestore's do) does not show its escaped id, which is not
// the token that the root package removes from the errors of a store.
func TestErrorsLeaveOutTheToken(t *testing.T) {
	cause := errors.New("rpc error: code = Internal desc = projects/p/databases/(default)/documents/s/a%2Fb:secret-token-123 failed")
	err := opErr("get", "a/b:secret-token-123", cause)
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error %q shows the token's document id", err)
	}
	if !strings.HasPrefix(err.Error(), "firestore: get: ") {
		t.Errorf("error %q does not name the operation", err)
	}
	if !errors.Is(err, cause) {
		t.Errorf("error %q does not wrap its cause", err)
	}
}
