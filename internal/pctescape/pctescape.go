// Package pctescape is the %XX escaping that the drivers whose backends
// restrict names (mongodb's field paths, Firestore's document ids and map
// keys) store names under: the bytes a backend could refuse,
// the bytes of invalid UTF-8 and "%" itself become "%" and two upper-case
// hex digits, everything else is kept, so that common names are stored as
// they are and decoding gives every name back.
package pctescape

import (
	"strings"
	"unicode/utf8"
)

// Escape returns s with "%", the bytes of invalid UTF-8 and every ASCII
// byte s[i] for which esc(s, i) is true written %XX. esc sees the whole
// string, for rules that depend on where a byte is; it need not name '%',
// which is always escaped.
func Escape(s string, esc func(s string, i int) bool) string {
	if !needs(s, esc) {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || size > 1 {
				b.WriteString(s[i : i+size])
				i += size
				continue
			}
		} else if c != '%' && !esc(s, i) {
			b.WriteByte(c)
			i++
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
		i++
	}
	return b.String()
}

// needs reports whether Escape changes s.
func needs(s string, esc func(string, int) bool) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf && (c == '%' || esc(s, i)) {
			return true
		}
	}
	return !utf8.ValidString(s)
}

// Unescape reverses Escape. ok is false for a string that is not an
// escaped form: a "%" not followed by two upper-case hex digits.
func Unescape(s string) (_ string, ok bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), true
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
