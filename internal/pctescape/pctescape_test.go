package pctescape

import "testing"

func TestRoundTrip(t *testing.T) {
	dot := func(s string, i int) bool { return s[i] == '.' }
	for in, want := range map[string]string{
		"user_id":   "user_id",
		"a.b":       "a%2Eb",
		"100%":      "100%25",
		"héllo":     "héllo",
		"bad\xffx":  "bad%FFx",
		"%2E":       "%252E",
		"":          "",
		"\x00.\xc3": "\x00%2E%C3",
	} {
		got := Escape(in, dot)
		if got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		back, ok := Unescape(got)
		if !ok || back != in {
			t.Errorf("Unescape(%q) = %q, %v; want %q", got, back, ok, in)
		}
	}
	for _, bad := range []string{"%", "%2", "%zz", "a%", "%2e"} {
		if _, ok := Unescape(bad); ok {
			t.Errorf("Unescape(%q) accepted a string that is not an escaped form", bad)
		}
	}
}
