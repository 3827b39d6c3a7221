package mongo

import (
	"errors"
	"strings"
	"unicode/utf8"
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
	if !needsEscape(name) {
		return name
	}
	var b strings.Builder
	b.Grow(len(name) + 8)
	for i := 0; i < len(name); {
		c := name[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(name[i:])
			if r != utf8.RuneError || size > 1 {
				b.WriteString(name[i : i+size])
				i += size
				continue
			}
		} else if !escaped(c) {
			b.WriteByte(c)
			i++
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
		i++
	}
	return b.String()
}

// escaped reports whether the ASCII byte c is stored as "%XX".
func escaped(c byte) bool {
	return c == '.' || c == '$' || c == '%' || c < 0x20 || c == 0x7f
}

// needsEscape reports whether some byte of name is stored as "%XX".
func needsEscape(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < utf8.RuneSelf && escaped(c) {
			return true
		}
	}
	return !utf8.ValidString(name)
}

var errBadKey = errors.New("not a field name encoded by this driver")

// decodeField reverses encodeField.
func decodeField(key string) (string, error) {
	if key == emptyName {
		return "", nil
	}
	if key == "" {
		return "", errBadKey
	}
	if strings.IndexByte(key, '%') < 0 {
		return key, nil
	}
	b := make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(key) {
			return "", errBadKey
		}
		hi, ok1 := unhex(key[i+1])
		lo, ok2 := unhex(key[i+2])
		if !ok1 || !ok2 {
			return "", errBadKey
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
