package sessionplus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"time"
)

// A field's value is stored as one tag byte followed by its payload. Go's
// basic types get a compact form whose tag names the exact type, so a value
// comes back as the type it was stored with, without gob and without
// registering types; everything else is JSON, decoded into the type the
// reader asks for with [GetAs].
const (
	tagBool    = byte(reflect.Bool)
	tagInt     = byte(reflect.Int)
	tagInt8    = byte(reflect.Int8)
	tagInt16   = byte(reflect.Int16)
	tagInt32   = byte(reflect.Int32)
	tagInt64   = byte(reflect.Int64)
	tagUint    = byte(reflect.Uint)
	tagUint8   = byte(reflect.Uint8)
	tagUint16  = byte(reflect.Uint16)
	tagUint32  = byte(reflect.Uint32)
	tagUint64  = byte(reflect.Uint64)
	tagFloat32 = byte(reflect.Float32)
	tagFloat64 = byte(reflect.Float64)
	tagString  = byte(reflect.String)
	tagBytes   = 0x80
	tagJSON    = 0x81
	tagTime    = 0x82
)

var (
	errBadValue        = errors.New("malformed stored value")
	errMalformedRecord = fmt.Errorf("%w: malformed record", ErrNotFound)
)

// encodeValue encodes v for storage.
func encodeValue(v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return append([]byte{tagString}, v...), nil
	case bool:
		if v {
			return []byte{tagBool, 1}, nil
		}
		return []byte{tagBool, 0}, nil
	case int:
		return binary.AppendVarint([]byte{tagInt}, int64(v)), nil
	case int8:
		return binary.AppendVarint([]byte{tagInt8}, int64(v)), nil
	case int16:
		return binary.AppendVarint([]byte{tagInt16}, int64(v)), nil
	case int32:
		return binary.AppendVarint([]byte{tagInt32}, int64(v)), nil
	case int64:
		return binary.AppendVarint([]byte{tagInt64}, v), nil
	case uint:
		return binary.AppendUvarint([]byte{tagUint}, uint64(v)), nil
	case uint8:
		return binary.AppendUvarint([]byte{tagUint8}, uint64(v)), nil
	case uint16:
		return binary.AppendUvarint([]byte{tagUint16}, uint64(v)), nil
	case uint32:
		return binary.AppendUvarint([]byte{tagUint32}, uint64(v)), nil
	case uint64:
		return binary.AppendUvarint([]byte{tagUint64}, v), nil
	case float32:
		return binary.BigEndian.AppendUint32([]byte{tagFloat32}, math.Float32bits(v)), nil
	case float64:
		return binary.BigEndian.AppendUint64([]byte{tagFloat64}, math.Float64bits(v)), nil
	case []byte:
		return append([]byte{tagBytes}, v...), nil
	case time.Time:
		b, err := v.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return append([]byte{tagTime}, b...), nil
	case nil:
		return nil, errors.New("cannot store nil: use Delete to remove a field")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %T: %w", v, err)
	}
	return append([]byte{tagJSON}, b...), nil
}

// decodeAny decodes a stored value into the Go value it was stored from;
// JSON values decode into the generic any of encoding/json.
func decodeAny(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errBadValue
	}
	tag, p := b[0], b[1:]
	switch tag {
	case tagString:
		return string(p), nil
	case tagBool:
		if len(p) != 1 || p[0] > 1 {
			return nil, errBadValue
		}
		return p[0] == 1, nil
	case tagInt, tagInt8, tagInt16, tagInt32, tagInt64:
		n, k := binary.Varint(p)
		if k <= 0 || k != len(p) {
			return nil, errBadValue
		}
		return intOfKind(tag, n)
	case tagUint, tagUint8, tagUint16, tagUint32, tagUint64:
		n, k := binary.Uvarint(p)
		if k <= 0 || k != len(p) {
			return nil, errBadValue
		}
		return uintOfKind(tag, n)
	case tagFloat32:
		if len(p) != 4 {
			return nil, errBadValue
		}
		return math.Float32frombits(binary.BigEndian.Uint32(p)), nil
	case tagFloat64:
		if len(p) != 8 {
			return nil, errBadValue
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case tagBytes:
		return slices.Clone(p), nil
	case tagTime:
		var t time.Time
		if err := t.UnmarshalBinary(p); err != nil {
			return nil, errBadValue
		}
		return t, nil
	case tagJSON:
		var v any
		if err := json.Unmarshal(p, &v); err != nil {
			return nil, errBadValue
		}
		return v, nil
	}
	return nil, errBadValue
}

func intOfKind(tag byte, n int64) (any, error) {
	switch tag {
	case tagInt:
		if int64(int(n)) != n {
			return nil, errBadValue
		}
		return int(n), nil
	case tagInt8:
		if n < math.MinInt8 || n > math.MaxInt8 {
			return nil, errBadValue
		}
		return int8(n), nil
	case tagInt16:
		if n < math.MinInt16 || n > math.MaxInt16 {
			return nil, errBadValue
		}
		return int16(n), nil
	case tagInt32:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return nil, errBadValue
		}
		return int32(n), nil
	}
	return n, nil
}

func uintOfKind(tag byte, n uint64) (any, error) {
	switch tag {
	case tagUint:
		if uint64(uint(n)) != n {
			return nil, errBadValue
		}
		return uint(n), nil
	case tagUint8:
		if n > math.MaxUint8 {
			return nil, errBadValue
		}
		return uint8(n), nil
	case tagUint16:
		if n > math.MaxUint16 {
			return nil, errBadValue
		}
		return uint16(n), nil
	case tagUint32:
		if n > math.MaxUint32 {
			return nil, errBadValue
		}
		return uint32(n), nil
	}
	return n, nil
}

// decodeInto decodes a stored value into *T. Values stored in the compact
// form decode only into exactly their own type (or any); JSON values decode
// into any type encoding/json can fill.
func decodeInto[T any](b []byte, out *T) error {
	// The common types first, without boxing the value in an interface.
	if len(b) > 0 {
		switch o := any(out).(type) {
		case *string:
			if b[0] == tagString {
				*o = string(b[1:])
				return nil
			}
		case *int:
			if b[0] == tagInt {
				n, k := binary.Varint(b[1:])
				if k <= 0 || k != len(b)-1 || int64(int(n)) != n {
					return errBadValue
				}
				*o = int(n)
				return nil
			}
		case *int64:
			if b[0] == tagInt64 {
				n, k := binary.Varint(b[1:])
				if k <= 0 || k != len(b)-1 {
					return errBadValue
				}
				*o = n
				return nil
			}
		case *bool:
			if b[0] == tagBool {
				if len(b) != 2 || b[1] > 1 {
					return errBadValue
				}
				*o = b[1] == 1
				return nil
			}
		}
	}
	if len(b) > 0 && b[0] == tagJSON {
		if err := json.Unmarshal(b[1:], out); err != nil {
			var ute *json.UnmarshalTypeError
			if errors.As(err, &ute) {
				return fmt.Errorf("%w: holds JSON that does not fit %s", ErrWrongType, reflect.TypeFor[T]())
			}
			return errBadValue
		}
		return nil
	}
	v, err := decodeAny(b)
	if err != nil {
		return err
	}
	t, ok := v.(T)
	if !ok {
		return fmt.Errorf("%w: holds %T, not %s", ErrWrongType, v, reflect.TypeFor[T]())
	}
	*out = t
	return nil
}

// recordVersion is the first byte of an encoded record.
const recordVersion = 1

// MarshalRecord encodes a record (its expiry and its fields, sorted by name)
// into a compact binary form. Client-side stores use it for the cookie
// payload; [UnmarshalRecord] reverses it.
func MarshalRecord(r Record) []byte {
	names := make([]string, 0, len(r.Values))
	size := 12
	for name, v := range r.Values {
		names = append(names, name)
		size += len(name) + len(v) + 4
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = append(b, recordVersion)
	b = binary.AppendVarint(b, r.Expiry.Unix())
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		v := r.Values[name]
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// UnmarshalRecord decodes what [MarshalRecord] encoded. Malformed input
// gives an error wrapping [ErrNotFound], so that a store may return it as is.
func UnmarshalRecord(b []byte) (Record, error) {
	bad := errMalformedRecord
	if len(b) == 0 || b[0] != recordVersion {
		return Record{}, bad
	}
	b = b[1:]
	exp, k := binary.Varint(b)
	if k <= 0 {
		return Record{}, bad
	}
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return Record{}, bad
	}
	b = b[k:]
	r := Record{Values: make(map[string][]byte, n), Expiry: time.Unix(exp, 0)}
	for range n {
		name, rest, ok := cutLen(b)
		if !ok {
			return Record{}, bad
		}
		v, rest, ok := cutLen(rest)
		if !ok {
			return Record{}, bad
		}
		r.Values[string(name)] = v
		b = rest
	}
	if len(b) != 0 {
		return Record{}, bad
	}
	return r, nil
}

// cutLen splits a uvarint-length-prefixed byte string off b.
func cutLen(b []byte) (s, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	b = b[k:]
	return b[:n:n], b[n:], true
}
