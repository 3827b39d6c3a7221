package sessionplus

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

type profile struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	Age   int      `json:"age"`
}

type userID int

func TestValueRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 123, time.FixedZone("X", 3600))
	values := []any{
		"", "héllo", true, false,
		0, -1, math.MaxInt, math.MinInt,
		int8(-128), int16(300), int32(-70000), int64(math.MinInt64),
		uint(7), uint8(255), uint16(65535), uint32(math.MaxUint32), uint64(math.MaxUint64),
		float32(1.5), math.Inf(-1), 0.1,
		[]byte{0, 1, 0xff}, []byte{},
		now,
	}
	for _, v := range values {
		b, err := encodeValue(v)
		if err != nil {
			t.Fatalf("encode %T %v: %v", v, v, err)
		}
		got, err := decodeAny(b)
		if err != nil {
			t.Fatalf("decode %T %v: %v", v, v, err)
		}
		if tm, ok := v.(time.Time); ok {
			if !tm.Equal(got.(time.Time)) {
				t.Errorf("time: got %v, want %v", got, tm)
			}
			continue
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("round trip of %T %v gave %T %v", v, v, got, got)
		}
	}
}

func TestDecodeIntoExactTypes(t *testing.T) {
	b, _ := encodeValue(42)
	var i int
	if err := decodeInto(b, &i); err != nil || i != 42 {
		t.Fatalf("int: %v %v", i, err)
	}
	var i64 int64
	if err := decodeInto(b, &i64); !errors.Is(err, ErrWrongType) {
		t.Fatalf("int read as int64: err = %v, want ErrWrongType", err)
	}
	var s string
	if err := decodeInto(b, &s); !errors.Is(err, ErrWrongType) {
		t.Fatalf("int read as string: err = %v, want ErrWrongType", err)
	}

	p := profile{Name: "ada", Roles: []string{"admin"}, Age: 36}
	b, err := encodeValue(p)
	if err != nil {
		t.Fatal(err)
	}
	var got profile
	if err := decodeInto(b, &got); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("struct: got %+v, %v", got, err)
	}
	var pp *profile
	if err := decodeInto(b, &pp); err != nil || !reflect.DeepEqual(*pp, p) {
		t.Fatalf("struct into pointer: got %+v, %v", pp, err)
	}
	var n int
	if err := decodeInto(b, &n); !errors.Is(err, ErrWrongType) {
		t.Fatalf("struct read as int: err = %v, want ErrWrongType", err)
	}

	b, _ = encodeValue(userID(9))
	var u userID
	if err := decodeInto(b, &u); err != nil || u != 9 {
		t.Fatalf("named int: %v %v", u, err)
	}
}

func TestEncodeValueErrors(t *testing.T) {
	if _, err := encodeValue(nil); err == nil {
		t.Error("nil value stored without error")
	}
	if _, err := encodeValue(make(chan int)); err == nil {
		t.Error("a channel was stored without error")
	}
	if _, err := encodeValue(math.NaN()); err != nil {
		t.Errorf("NaN float64 has a compact form, got %v", err)
	}
}

func TestDecodeAnyMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {}, {tagBool}, {tagBool, 2}, {tagInt}, {tagInt8, 0xff, 0x03}, {tagFloat64, 1}, {tagJSON, '{'}, {0x7f}, {tagTime, 9}} {
		if _, err := decodeAny(b); err == nil {
			t.Errorf("decodeAny(%v) accepted malformed input", b)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := Record{Values: map[string][]byte{"a": {1}, "": {}, "b.c": bytes.Repeat([]byte{0}, 300)}, Expiry: time.Unix(1_800_000_000, 0)}
	got, err := UnmarshalRecord(MarshalRecord(r))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expiry.Equal(r.Expiry) || !reflect.DeepEqual(got.Values, r.Values) {
		t.Fatalf("got %+v, want %+v", got, r)
	}
	enc := MarshalRecord(r)
	for i := range enc {
		if _, err := UnmarshalRecord(enc[:i]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("truncated at %d: err = %v, want ErrNotFound", i, err)
		}
	}
	if _, err := UnmarshalRecord(append(enc, 0)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
}
