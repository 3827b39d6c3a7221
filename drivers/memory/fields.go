package memory

import (
	"encoding/binary"
	"iter"
	"slices"
	"strings"
)

// A record's values are kept as one immutable string rather than a map:
// the number of fields, then for each field the length of its name, the
// name, the length of its value and the value, every number a uvarint.
// Two fields of 40 bytes take one allocation of 96 bytes where a map takes
// five, about 500 bytes.

// encode returns values in the stored form.
func encode(values map[string][]byte) string {
	size := uvarintLen(len(values))
	for name, v := range values {
		size += fieldLen(name, len(v))
	}
	var b strings.Builder
	b.Grow(size)
	writeUvarint(&b, len(values))
	for name, v := range values {
		writeString(&b, name)
		writeBytes(&b, v)
	}
	return b.String()
}

// merge returns the stored form of the record old with the fields in set
// written and those in del removed.
func merge(old string, set map[string][]byte, del []string) string {
	keep := func(name string) bool {
		_, written := set[name]
		return !written && !slices.Contains(del, name)
	}
	n, size := len(set), 0
	for name, v := range set {
		size += fieldLen(name, len(v))
	}
	for name, v := range fields(old) {
		if keep(name) {
			n++
			size += fieldLen(name, len(v))
		}
	}
	var b strings.Builder
	b.Grow(uvarintLen(n) + size)
	writeUvarint(&b, n)
	for name, v := range fields(old) {
		if keep(name) {
			writeString(&b, name)
			writeString(&b, v)
		}
	}
	for name, v := range set {
		writeString(&b, name)
		writeBytes(&b, v)
	}
	return b.String()
}

// decode returns the values of a stored record as a new map. The values
// share one new buffer, each capped at its length so that an append to
// one cannot overwrite the next; an empty value is empty and not nil.
func decode(stored string) map[string][]byte {
	n, _ := uvarint(stored)
	out := make(map[string][]byte, n)
	buf := make([]byte, 0, len(stored))
	for name, v := range fields(stored) {
		start := len(buf)
		buf = append(buf, v...)
		out[name] = buf[start:len(buf):len(buf)]
	}
	return out
}

// fields yields the names and values of a stored record.
func fields(stored string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		_, k := uvarint(stored)
		rest := stored[k:]
		for rest != "" {
			var name, value string
			name, rest = cut(rest)
			value, rest = cut(rest)
			if !yield(name, value) {
				return
			}
		}
	}
}

// cut splits a length-prefixed string from the front of s.
func cut(s string) (field, rest string) {
	n, k := uvarint(s)
	return s[k : k+n], s[k+n:]
}

// uvarint decodes the uvarint at the front of s and returns it and the
// number of bytes it took.
func uvarint(s string) (int, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int(x), i + 1
		}
	}
	panic("memory: corrupt stored record")
}

func writeUvarint(b *strings.Builder, n int) {
	var tmp [binary.MaxVarintLen64]byte
	b.Write(binary.AppendUvarint(tmp[:0], uint64(n)))
}

// writeString and writeBytes write a length-prefixed string.
func writeString(b *strings.Builder, s string) {
	writeUvarint(b, len(s))
	b.WriteString(s)
}

func writeBytes(b *strings.Builder, v []byte) {
	writeUvarint(b, len(v))
	b.Write(v)
}

func fieldLen(name string, valueLen int) int {
	return uvarintLen(len(name)) + len(name) + uvarintLen(valueLen) + valueLen
}

func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}
