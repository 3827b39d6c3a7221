package sessionplus

import (
	"fmt"
	"slices"
	"strings"
)

// fieldMode is how a session's session_fields selects the fields it owns.
type fieldMode int

const (
	fieldsAll     fieldMode = iota // omitted or []: every field
	fieldsInclude                  // a list, or {"include": [...]}: exactly those
	fieldsExclude                  // {"exclude": [...]}: every field but those
	fieldsAuto                     // "auto": every field no other session names
)

// fieldSpec is one session's parsed session_fields.
type fieldSpec struct {
	mode  fieldMode
	names []string
}

// parseFields parses the accepted forms of session_fields: nil, a list of
// strings, "auto", or a map with exactly one of "include" and "exclude".
func parseFields(v any) (fieldSpec, error) {
	switch v := v.(type) {
	case nil:
		return fieldSpec{mode: fieldsAll}, nil
	case string:
		if v == "auto" {
			return fieldSpec{mode: fieldsAuto}, nil
		}
		return fieldSpec{}, fmt.Errorf(`expected a list of field names, "auto", or {"include": [...]} / {"exclude": [...]}, got string %q`, v)
	case map[string]any:
		return parseFieldMap(v)
	case map[string][]string:
		m := make(map[string]any, len(v))
		for k, list := range v {
			m[k] = list
		}
		return parseFieldMap(m)
	}
	names, err := fieldList(v)
	if err != nil {
		return fieldSpec{}, err
	}
	if len(names) == 0 {
		return fieldSpec{mode: fieldsAll}, nil
	}
	return fieldSpec{mode: fieldsInclude, names: names}, nil
}

func parseFieldMap(m map[string]any) (fieldSpec, error) {
	if len(m) != 1 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return fieldSpec{}, fmt.Errorf(`expected a map with exactly one of "include" or "exclude", got keys [%s]`, strings.Join(keys, ", "))
	}
	for k, v := range m {
		names, err := fieldList(v)
		if err != nil {
			return fieldSpec{}, fmt.Errorf("%s: %w", k, err)
		}
		switch k {
		case "include":
			if len(names) == 0 {
				return fieldSpec{}, fmt.Errorf(`"include" is empty: the session would own no field`)
			}
			return fieldSpec{mode: fieldsInclude, names: names}, nil
		case "exclude":
			return fieldSpec{mode: fieldsExclude, names: names}, nil
		default:
			return fieldSpec{}, fmt.Errorf(`expected "include" or "exclude", got %q`, k)
		}
	}
	panic("unreachable")
}

// fieldList accepts []string or a []any of strings (as JSON and YAML decode).
func fieldList(v any) ([]string, error) {
	var names []string
	switch v := v.(type) {
	case []string:
		names = slices.Clone(v)
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d: expected a field name (string), got %s", i, describeValue(e))
			}
			names = append(names, s)
		}
	default:
		return nil, fmt.Errorf(`expected a list of field names, "auto", or {"include": [...]} / {"exclude": [...]}, got %s`, describeValue(v))
	}
	for _, n := range names {
		if err := checkFieldName(n); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// checkFieldName rejects the names no session may hold: the empty name and
// names with a NUL byte, which the root package reserves for itself.
func checkFieldName(name string) error {
	if name == "" {
		return fmt.Errorf("field name is empty")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("field name %q contains a NUL byte", name)
	}
	return nil
}

// router finds the sessions that own a field.
type router struct {
	specs []fieldSpec
	named map[string]bool // fields named by a list or include somewhere
}

func newRouter(specs []fieldSpec) router {
	r := router{specs: specs, named: make(map[string]bool)}
	for _, s := range specs {
		if s.mode == fieldsInclude {
			for _, n := range s.names {
				r.named[n] = true
			}
		}
	}
	return r
}

// owns reports whether session i owns field.
func (r router) owns(i int, field string) bool {
	s := r.specs[i]
	switch s.mode {
	case fieldsAll:
		return true
	case fieldsInclude:
		return slices.Contains(s.names, field)
	case fieldsExclude:
		return !slices.Contains(s.names, field)
	default: // fieldsAuto
		return !r.named[field]
	}
}

// owners returns the indexes of the sessions that own field, in config order.
func (r router) owners(field string) []int {
	var out []int
	for i := range r.specs {
		if r.owns(i, field) {
			out = append(out, i)
		}
	}
	return out
}

// first returns the first owner of field, or -1.
func (r router) first(field string) int {
	for i := range r.specs {
		if r.owns(i, field) {
			return i
		}
	}
	return -1
}
