package sessionplus

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if !validID(id) {
			t.Fatalf("newID() = %q is not valid", id)
		}
		if seen[id] {
			t.Fatalf("newID() repeated %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("+", 43), strings.Repeat("A", 42) + "B"} {
		if validID(bad) {
			t.Errorf("validID(%q) = true", bad)
		}
	}
}

func TestStorageKeyHashesIDAndTerms(t *testing.T) {
	c := idCookie{id: newID(), created: time.Unix(1_800_000_000, 0), due: time.Unix(1_800_000_100, 0)}
	k := storageKey("session", c, true)
	if !strings.HasPrefix(k, "session:") || strings.Contains(k, c.id) || len(k) != len("session:")+43 {
		t.Fatalf("hashed key %q holds the id, lacks the prefix, or is not 43 characters after it", k)
	}
	if k != storageKey("session", c, true) {
		t.Fatal("storage key is not deterministic")
	}
	later := c
	later.due = c.due.Add(time.Hour)
	if storageKey("session", later, true) != k {
		t.Error("the due time changed the storage key: a keep-alive would lose the session")
	}
	// Each term the cookie carries is bound: editing it names another key.
	perm, older := c, c
	perm.permanent = true
	older.created = c.created.Add(-time.Second)
	for what, e := range map[string]idCookie{"the permanent flag": perm, "the creation time": older} {
		if storageKey("session", e, true) == k {
			t.Errorf("editing %s kept the storage key", what)
		}
	}
	if got, want := storageKey("p", c, false), "p:"+c.id+".s"+strconv.FormatInt(c.created.Unix(), 36); got != want {
		t.Fatalf("unhashed key = %q, want %q", got, want)
	}
}

func TestIDCookie(t *testing.T) {
	keys := [][]byte{DeriveKey([]byte(strings.Repeat("k", 32)), "session id signer")}
	old := [][]byte{DeriveKey([]byte(strings.Repeat("o", 32)), "session id signer")}
	c := idCookie{id: newID(), permanent: true, created: time.Unix(1_800_000_000, 0), due: time.Unix(1_900_000_000, 0)}

	for _, signKeys := range [][][]byte{nil, keys} {
		v := c.encode("session", signKeys)
		got, ok := parseIDCookie("session", v, signKeys)
		if !ok || got != c {
			t.Fatalf("parse(encode) = %+v, %v; want %+v", got, ok, c)
		}
	}

	signed := c.encode("session", keys)
	if _, ok := parseIDCookie("other", signed, keys); ok {
		t.Error("a signed id cookie was accepted under another cookie name")
	}
	if _, ok := parseIDCookie("session", c.encode("session", nil), keys); ok {
		t.Error("an unsigned id cookie was accepted where use_signer is on")
	}
	if _, ok := parseIDCookie("session", c.encode("session", old), keys); ok {
		t.Error("a cookie signed with an unknown key was accepted")
	}
	if _, ok := parseIDCookie("session", c.encode("session", old), append(keys, old...)); !ok {
		t.Error("a cookie signed with an older key was refused during rotation")
	}
	for what, tampered := range map[string]string{
		"permanent flag": strings.Replace(signed, ".p", ".s", 1),
		"creation time":  strings.Replace(signed, ".p", ".p0", 1),
		"due time":       c.id + ".p" + strconv.FormatInt(c.created.Unix(), 36) + ".0" + signed[strings.LastIndexByte(signed, '.'):],
	} {
		if _, ok := parseIDCookie("session", tampered, keys); ok {
			t.Errorf("a signed cookie whose %s was changed was accepted", what)
		}
	}
	for _, bad := range []string{"", ".", strings.Repeat("A", 43), c.id + ".x1", c.id + ".p", c.id + ".p-1", c.id + ".p1.", c.id + ".p1", c.id + ".p1.-2", c.id + ".1.2", "x" + signed} {
		if _, ok := parseIDCookie("session", bad, nil); ok {
			t.Errorf("parseIDCookie accepted %q", bad)
		}
	}
}

func TestCookieValue(t *testing.T) {
	lines := []string{`a=1; session=abc.s1; data="quoted"`, "session=second; b=2"}
	for name, want := range map[string]string{"session": "abc.s1", "data": "quoted", "b": "2", "a": "1", "sess": "", "x": ""} {
		if got := cookieValue(lines, name); got != want {
			t.Errorf("cookieValue(%q) = %q, want %q", name, got, want)
		}
	}
	if got := cookieValue(nil, "a"); got != "" {
		t.Errorf("no Cookie header gave %q", got)
	}
}

func TestCookieLine(t *testing.T) {
	c := &sessionConf{name: "s", path: "/app", domain: "example.com", httpOnly: true, secure: true, sameSite: 3}
	c.attrs = c.cookieAttrs()
	exp := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	got := c.cookieLine("v1.p2", 3600, exp)
	want := "s=v1.p2; Expires=Tue, 01 Dec 2026 10:00:00 GMT; Max-Age=3600; Path=/app; Domain=example.com; HttpOnly; Secure; SameSite=Strict"
	if got != want {
		t.Errorf("cookieLine =\n  %s\nwant\n  %s", got, want)
	}
	if got := c.cookieLine("", -1, time.Unix(0, 0)); !strings.Contains(got, "Max-Age=0") || !strings.Contains(got, "Expires=Thu, 01 Jan 1970") {
		t.Errorf("expiring line %q", got)
	}
	for _, bad := range []string{"a b", "a;b", `a"b`, "a,b", "a\\b", "é"} {
		if validCookieValue(bad) {
			t.Errorf("validCookieValue(%q) = true", bad)
		}
	}
}
