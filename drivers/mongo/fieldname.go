package mongo

import (
	"errors"

	"github.com/sessionplus/sessionplus/internal/pctescape"
)

// emptyName is how the empty field name is stored: MongoDB cannot take an
// empty path component ("data."), and no other name encodes to a lone "%".
const emptyName = "%"

// encodeField returns the key under which field name is stored in the data
// sub-document. Every byte that MongoDB (or a compatible server) cannot take
// in a path component, plus "%" itself, becomes "%XX" (upper-case hex):
// ".", "$", "%", control characters (NUL included) and the bytes of invalid
// UTF-8. Every other character, non-ASCII letters included, is kept, so
// common names are stored as they are. The empty name becomes "%".
func encodeField(name string) string {
	if name == "" {
		return emptyName
	}
	return pctescape.Escape(name, escaped)
}

// escaped reports whether the ASCII byte s[i] is stored as "%XX".
func escaped(s string, i int) bool {
	c := s[i]
	return c == '.' || c == '$' || c < 0x20 || c == 0x7f
}

var errBadKey = errors.New("not a field name encoded by this driver")

// decodeField reverses encodeField.
func decodeField(key string) (string, error) {
	if key == emptyName {
		return "", nil
	}
	name, ok := pctescape.Unescape(key)
	if key == "" || !ok {
		return "", errBadKey
	}
	return name, nil
}
