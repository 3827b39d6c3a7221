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
