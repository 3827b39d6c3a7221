package firestore_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/internal/userkey"
)

// TestUserField: the user is the document's own field "user", set by a
// login's write and deleted by a log-out's; a session field named "user"
// stays in data and is never taken for it; a user key that is not valid
// UTF-8 or too long for a query is stored as its digest and still found.
func TestUserField(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	ctx := t.Context()
	tok := token()
	set := vals("user", "not-the-index", "\x00meta", "st0")
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Create, Set: set, Expiry: time.Now().Add(time.Hour), User: "alice"}); err != nil {
		t.Fatal(err)
	}
	doc := rawDoc(t, c, coll, tok)
	if doc["user"] != "alice" {
		t.Errorf("the document's user field is %v, want alice", doc["user"])
	}
	if data, _ := doc["data"].(map[string]any); string(data["user"].([]byte)) != "not-the-index" {
		t.Errorf("the session field user in data is %v, want its own value", data["user"])
	}
	for user, want := range map[string]int{"alice": 1, "not-the-index": 0} {
		if recs, err := st.UserRecords(ctx, user); err != nil || len(recs) != want {
			t.Errorf("UserRecords(%q) = %d records, %v; want %d", user, len(recs), err, want)
		} else if want == 1 && recs[0].Token != tok {
			t.Errorf("UserRecords(alice) lists the token %q, want %q", recs[0].Token, tok)
		}
	}
	if _, err := st.Save(ctx, tok, sessionplus.Update{Kind: sessionplus.Write, Expiry: time.Now().Add(time.Hour), SetUser: true}); err != nil {
		t.Fatal(err)
	}
	if v, ok := rawDoc(t, c, coll, tok)["user"]; ok {
		t.Errorf("after a log-out the document still has user = %v", v)
	}

	odd := "bad-\xff-utf8"
	tok2 := token()
	if _, err := st.Save(ctx, tok2, sessionplus.Update{Kind: sessionplus.Create, Set: set, Expiry: time.Now().Add(time.Hour), User: odd}); err != nil {
		t.Fatal(err)
	}
	if recs, err := st.UserRecords(ctx, odd); err != nil || len(recs) != 1 || recs[0].Token != tok2 {
		t.Errorf("UserRecords of a user key that is not UTF-8 = %v, %v; want the one record", recs, err)
	}
}

// TestUserKeyOfAnotherUsersDigest: user B whose key is the very digest
// that user A's long key is stored as in the user field never reaches A's
// records, and A never reaches B's: B's key is hashed again.
func TestUserKeyOfAnotherUsersDigest(t *testing.T) {
	c := newClient(t)
	st, coll := newStore(t, c)
	ctx := t.Context()
	a := "long-" + token()
	a += strings.Repeat("a", 600-len(a))
	b := userkey.Stored(a, utf8.ValidString)
	tokA, tokB := token(), token()
	create := func(tok, user, who string) {
		t.Helper()
		u := sessionplus.Update{Kind: sessionplus.Create, Set: vals("who", who), Expiry: time.Now().Add(time.Hour), User: user}
		if _, err := st.Save(ctx, tok, u); err != nil {
			t.Fatal(err)
		}
	}
	listed := func(user string) []string {
		t.Helper()
		recs, err := st.UserRecords(ctx, user)
		if err != nil {
			t.Fatalf("UserRecords: %v", err)
		}
		toks := make([]string, len(recs))
		for i, r := range recs {
			toks[i] = r.Token
		}
		return toks
	}
	create(tokA, a, "a")
	if got := rawDoc(t, c, coll, tokA)["user"]; got != b {
		t.Fatalf("A's user field is %q, want userkey.Stored(A) = %q", got, b)
	}
	if got := listed(b); len(got) != 0 {
		t.Errorf("UserRecords(B), B being A's stored digest, = %v; want none of A's records", got)
	}
	create(tokB, b, "b")
	for user, want := range map[string]string{a: tokA, b: tokB} {
		if got := listed(user); len(got) != 1 || got[0] != want {
			t.Errorf("UserRecords(%.20q...) = %v, want only %s", user, got, want)
		}
	}
}
