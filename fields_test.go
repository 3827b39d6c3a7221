package sessionplus

import (
	"slices"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	tests := []struct {
		name      string
		given     any
		expect    fieldSpec
		expectErr string
	}{
		{name: "ok, omitted owns all", given: nil, expect: fieldSpec{mode: fieldsAll}},
		{name: "ok, empty list owns all", given: []string{}, expect: fieldSpec{mode: fieldsAll}},
		{name: "ok, list", given: []string{"a", "b"}, expect: fieldSpec{mode: fieldsInclude, names: []string{"a", "b"}}},
		{name: "ok, list from JSON", given: []any{"a"}, expect: fieldSpec{mode: fieldsInclude, names: []string{"a"}}},
		{name: "ok, include", given: map[string]any{"include": []any{"a"}}, expect: fieldSpec{mode: fieldsInclude, names: []string{"a"}}},
		{name: "ok, exclude", given: map[string][]string{"exclude": {"a"}}, expect: fieldSpec{mode: fieldsExclude, names: []string{"a"}}},
		{name: "ok, auto", given: "auto", expect: fieldSpec{mode: fieldsAuto}},
		{name: "nok, other string", given: "all", expectErr: `got string "all"`},
		{name: "nok, both include and exclude", given: map[string]any{"include": []any{"a"}, "exclude": []any{"b"}}, expectErr: "exactly one"},
		{name: "nok, unknown map key", given: map[string]any{"only": []any{"a"}}, expectErr: `got "only"`},
		{name: "nok, empty include", given: map[string]any{"include": []any{}}, expectErr: "own no field"},
		{name: "nok, number in list", given: []any{"a", 3}, expectErr: "element 1"},
		{name: "nok, empty field name", given: []string{""}, expectErr: "empty"},
		{name: "nok, NUL in field name", given: []string{"a\x00"}, expectErr: "NUL"},
		{name: "nok, int", given: 7, expectErr: "got int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFields(tc.given)
			if tc.expectErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.expectErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.expectErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.mode != tc.expect.mode || !slices.Equal(got.names, tc.expect.names) {
				t.Fatalf("got %+v, want %+v", got, tc.expect)
			}
		})
	}
}

func TestRouter(t *testing.T) {
	// The seed's configuration plus an exclude session and a second owner of csrf_token.
	r := newRouter([]fieldSpec{
		{mode: fieldsInclude, names: []string{"csrf_token"}},
		{mode: fieldsInclude, names: []string{"user_id", "user_data"}},
		{mode: fieldsAuto},
		{mode: fieldsExclude, names: []string{"user_data"}},
	})
	tests := []struct {
		field string
		want  []int
	}{
		{"csrf_token", []int{0, 3}},
		{"user_id", []int{1, 3}},
		{"user_data", []int{1}},
		{"theme", []int{2, 3}},
	}
	for _, tc := range tests {
		if got := r.owners(tc.field); !slices.Equal(got, tc.want) {
			t.Errorf("owners(%q) = %v, want %v", tc.field, got, tc.want)
		}
		if got := r.first(tc.field); got != tc.want[0] {
			t.Errorf("first(%q) = %d, want %d", tc.field, got, tc.want[0])
		}
	}

	none := newRouter([]fieldSpec{{mode: fieldsInclude, names: []string{"a"}}})
	if got := none.owners("b"); len(got) != 0 || none.first("b") != -1 {
		t.Errorf("a field no session names has owners %v", got)
	}
}
