package sessionplus

import (
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

func TestStorageKeyHashesID(t *testing.T) {
	id := newID()
	k := storageKey("session", id, true)
	if !strings.HasPrefix(k, "session:") || strings.Contains(k, id) {
		t.Fatalf("hashed key %q holds the id or lacks the prefix", k)
	}
	if k != storageKey("session", id, true) {
		t.Fatal("storage key is not deterministic")
	}
	if got := storageKey("p", id, false); got != "p:"+id {
		t.Fatalf("unhashed key = %q", got)
	}
}

func TestIDCookie(t *testing.T) {
	keys := [][]byte{DeriveKey([]byte(strings.Repeat("k", 32)), "session id signer")}
	old := [][]byte{DeriveKey([]byte(strings.Repeat("o", 32)), "session id signer")}
	c := idCookie{id: newID(), permanent: true, due: time.Unix(1_900_000_000, 0)}

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
	tampered := strings.Replace(signed, ".p", ".s", 1)
	if _, ok := parseIDCookie("session", tampered, keys); ok {
		t.Error("a signed cookie whose permanent flag was changed was accepted")
	}
	for _, bad := range []string{"", ".", strings.Repeat("A", 43), c.id + ".x1", c.id + ".p", c.id + ".p-1", c.id + ".p1.", "x" + signed} {
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
