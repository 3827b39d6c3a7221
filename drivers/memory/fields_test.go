package memory

import (
	"maps"
	"strings"
	"testing"
)

func TestFieldsRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		values map[string][]byte
	}{
		{name: "none", values: map[string][]byte{}},
		{name: "two", values: map[string][]byte{"user_id": []byte("42"), "csrf": []byte("x")}},
		{name: "empty value", values: map[string][]byte{"a": {}}},
		{name: "binary", values: map[string][]byte{"b": {0, 0x80, 0xff, '\n'}, "\x7fodd name": {1}}},
		{name: "long", values: map[string][]byte{strings.Repeat("n", 300): []byte(strings.Repeat("v", 70000))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decode(encode(tt.values))
			if !maps.EqualFunc(got, tt.values, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Fatalf("decode(encode(%q)) = %q", tt.values, got)
			}
			for name, v := range got {
				if v == nil {
					t.Errorf("value of %q decoded as nil, want empty", name)
				}
			}
		})
	}
}

// TestDecodedValuesAreSeparate shows that an append to one decoded value,
// which share a buffer, does not overwrite another.
func TestDecodedValuesAreSeparate(t *testing.T) {
	stored := encode(map[string][]byte{"a": []byte("111"), "b": []byte("222")})
	got := decode(stored)
	_ = append(got["a"], "XXX"...)
	_ = append(got["b"], "XXX"...)
	if string(got["a"]) != "111" || string(got["b"]) != "222" {
		t.Fatalf("after appends: a = %q, b = %q, want 111 and 222", got["a"], got["b"])
	}
	got["a"][0] = 'Z'
	if again := decode(stored); string(again["a"]) != "111" {
		t.Fatalf("changing a decoded value changed the stored record: %q", again["a"])
	}
}

func TestMerge(t *testing.T) {
	old := encode(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")})
	got := decode(merge(old, map[string][]byte{"b": []byte("new"), "d": {}}, []string{"c", "missing"}))
	want := map[string][]byte{"a": []byte("1"), "b": []byte("new"), "d": {}}
	if !maps.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("merge = %q, want %q", got, want)
	}
}
