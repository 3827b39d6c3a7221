package sessionplus

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// OptionsValidator is implemented by a driver's options struct that checks
// what decoding cannot: keys that exclude each other, a required key, a
// value out of range. [DriverConfig.Decode] calls Validate once every key
// decoded, so that these mistakes too are reported before any backend is
// contacted. cfg.Options holds the keys as given, for a check of whether a
// key was given at all. Validate should return a [ConfigErrorf] error that
// names the key.
type OptionsValidator interface {
	Validate(cfg DriverConfig) error
}

// Decode decodes c.Options into the struct that out points to, the way
// every driver reads its options, and then, if out implements
// [OptionsValidator], calls its Validate method. Keys are matched against
// the struct's `mapstructure` tags. It returns an error wrapping
// [ErrConfig] that names the key for an unknown key (listing the known
// ones) and for a value of the wrong type: a *[ConfigError] with its Key
// set.
//
// A driver's Open must call Decode before it contacts anything and return
// its error as it is: when the root package checks a configuration it
// opens each driver once "dry", and Decode then records the driver's keys
// and every mistake in the options and returns an error that stops Open.
//
// Durations (time.Duration and *time.Duration fields) accept a
// time.Duration, a Go duration string such as "24h", or a whole number of
// seconds (an integer, or a float without a fraction as JSON decoders
// produce). A []byte field also accepts a string. Live values (a client:
// pointers to structs, interfaces, funcs) are kept as given, never copied.
func (c DriverConfig) Decode(out any) error {
	if c.dry != nil {
		c.dry.record(c, out)
		return errDryRun
	}
	if err := decodeOptions(c.Options, out); err != nil {
		return err
	}
	if v, ok := out.(OptionsValidator); ok {
		return v.Validate(c)
	}
	return nil
}

// decodeOptions decodes opts into the struct that out points to; see
// [DriverConfig.Decode].
func decodeOptions(opts Options, out any) error {
	known := structKeys(out)
	var unknown []string
	for k := range opts {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		e := &ConfigError{Key: unknown[0], bare: true}
		if len(known) == 0 {
			e.Msg = fmt.Sprintf("unknown key %q (this session_type takes no keys of its own)", unknown[0])
		} else {
			e.Msg = fmt.Sprintf("unknown key %q (known keys: %s)", unknown[0], strings.Join(known, ", "))
		}
		return e
	}
	// Live values (a client, a logger) are kept as given: mapstructure would
	// copy the struct a pointer points to.
	fields := structFields(out)
	in := make(map[string]any, len(opts))
	live := map[string]reflect.Value{}
	for k, v := range opts {
		if !slices.Contains(known, k) {
			continue
		}
		if f, ok := fields[k]; ok && v != nil && isLive(f.Type()) {
			if !reflect.TypeOf(v).AssignableTo(f.Type()) {
				return &ConfigError{Key: k, Msg: fmt.Sprintf("expected %s, got %s", f.Type(), describeValue(v))}
			}
			live[k] = reflect.ValueOf(v)
			continue
		}
		in[k] = v
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: durationHook,
		Result:     out,
		ZeroFields: false,
	})
	if err != nil {
		panic("sessionplus: Decode: " + err.Error())
	}
	if err := dec.Decode(in); err != nil {
		return describeDecodeError(err)
	}
	for k, v := range live {
		fields[k].Set(v)
	}
	return nil
}

// isLive reports whether values of type t are references that must be
// kept as they are, not copied: pointers (but to plain values such as a
// *time.Duration, which are decoded), interfaces, funcs, channels.
func isLive(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface, reflect.Func, reflect.Chan:
		return true
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Struct
	}
	return false
}

// structFields maps the mapstructure keys of the struct p points to to its
// settable fields.
func structFields(p any) map[string]reflect.Value {
	v := reflect.ValueOf(p).Elem()
	t := v.Type()
	out := make(map[string]reflect.Value, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = v.Field(i)
	}
	return out
}

// structKeys returns the sorted mapstructure keys of the struct p points to.
func structKeys(p any) []string {
	t := reflect.TypeOf(p)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		panic("sessionplus: Decode needs a pointer to a struct")
	}
	return slices.Sorted(maps.Keys(structFields(p)))
}

// describeDecodeError turns a mapstructure error into the configuration
// error `key "x": expected int, got string "y"`, naming the first key that
// failed.
func describeDecodeError(err error) *ConfigError {
	var de *mapstructure.DecodeError
	if !errors.As(err, &de) {
		return &ConfigError{Msg: err.Error()}
	}
	e := &ConfigError{Key: de.Name()}
	var ute *mapstructure.UnconvertibleTypeError
	var pe *mapstructure.ParseError
	switch {
	case errors.As(de, &ute):
		e.Msg = fmt.Sprintf("expected %s, got %s", ute.Expected.Type(), describeValue(ute.Value))
	case errors.As(de, &pe):
		e.Msg = fmt.Sprintf("expected %s, got %s (%v)", pe.Expected.Type(), describeValue(pe.Value), pe.Err)
	default:
		e.Msg = de.Unwrap().Error()
	}
	return e
}

// errDryRun is what Decode returns from a dry Open.
var errDryRun = errors.New("sessionplus: dry run: options checked, nothing opened")

// dryRun is what a dry Open learned about a driver's options.
type dryRun struct {
	called  bool                    // the driver called Decode
	keys    map[string]reflect.Type // the driver's keys and their Go types
	unknown []string                // the keys of the options the driver does not know, sorted
	errs    []*ConfigError          // one per key of the wrong type, in key order, then Validate's
}

// record checks every key of c.Options against out on its own, so that
// one mistake does not hide the next, and then, if every key decoded,
// runs the options' Validate.
func (d *dryRun) record(c DriverConfig, out any) {
	d.called = true
	fields := structFields(out)
	d.keys = make(map[string]reflect.Type, len(fields))
	for k, f := range fields {
		d.keys[k] = f.Type()
	}
	fresh := func() any { return reflect.New(reflect.TypeOf(out).Elem()).Interface() }
	for _, k := range slices.Sorted(maps.Keys(c.Options)) {
		if _, ok := d.keys[k]; !ok {
			d.unknown = append(d.unknown, k)
			continue
		}
		if err := decodeOptions(Options{k: c.Options[k]}, fresh()); err != nil {
			d.errs = append(d.errs, asConfigError(err))
		}
	}
	if len(d.unknown) > 0 || len(d.errs) > 0 {
		return
	}
	whole := fresh()
	if err := decodeOptions(c.Options, whole); err != nil {
		d.errs = append(d.errs, asConfigError(err))
		return
	}
	if v, ok := whole.(OptionsValidator); ok {
		c.dry = nil
		if err := v.Validate(c); err != nil {
			ces := configErrors(err)
			if len(ces) == 0 {
				ces = []*ConfigError{asConfigError(err)}
			}
			d.errs = append(d.errs, ces...)
		}
	}
}

func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("string %q", v)
	default:
		return reflect.TypeOf(v).String()
	}
}

var durationType = reflect.TypeFor[time.Duration]()

// durationHook converts the accepted forms of a duration, lets strings
// fill []byte fields, and refuses a number an integer field cannot hold
// exactly (mapstructure would truncate 1.5 to 1, or wrap 300 in an int8).
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to == durationType {
		return parseDuration(data)
	}
	if to == reflect.TypeFor[[]byte]() {
		if s, ok := data.(string); ok {
			return []byte(s), nil
		}
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if err := checkWhole(data, to); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// checkWhole reports an error if the number v does not fit the integer
// type to exactly: a fraction, a negative number for an unsigned type, or
// a value out of its range. Other values are left to the decoder.
func checkWhole(v any, to reflect.Type) error {
	rv := reflect.ValueOf(v)
	bad := false
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		switch {
		case f != math.Trunc(f) || math.IsInf(f, 0):
			bad = true
		case to.Kind() >= reflect.Uint:
			bad = f < 0 || f >= math.Exp2(float64(to.Bits())) || reflect.Zero(to).OverflowUint(uint64(f))
		default:
			bad = f < -math.Exp2(63) || f >= math.Exp2(63) || reflect.Zero(to).OverflowInt(int64(f))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		if to.Kind() >= reflect.Uint {
			bad = n < 0 || reflect.Zero(to).OverflowUint(uint64(n))
		} else {
			bad = reflect.Zero(to).OverflowInt(n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := rv.Uint()
		if to.Kind() >= reflect.Uint {
			bad = reflect.Zero(to).OverflowUint(n)
		} else {
			bad = n > math.MaxInt64 || reflect.Zero(to).OverflowInt(int64(n))
		}
	}
	if bad {
		return fmt.Errorf("expected a whole number that fits %s, got %v", to, v)
	}
	return nil
}

// parseDuration accepts a time.Duration, a duration string or whole seconds.
func parseDuration(v any) (any, error) {
	switch v := v.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("expected a duration such as \"24h\" or whole seconds, got string %q", v)
		}
		return d, nil
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > float64(math.MaxInt64/int64(time.Second)) {
			return nil, fmt.Errorf("expected a duration such as \"24h\" or whole seconds, got %v", v)
		}
		return time.Duration(v) * time.Second, nil
	case float32:
		return parseDuration(float64(v))
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return nil, fmt.Errorf("duration of %d seconds is out of range", n)
		}
		return time.Duration(n) * time.Second, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := rv.Uint()
		if n > uint64(math.MaxInt64/int64(time.Second)) {
			return nil, fmt.Errorf("duration of %d seconds is out of range", n)
		}
		return time.Duration(n) * time.Second, nil
	}
	return nil, fmt.Errorf("expected a duration such as \"24h\" or whole seconds, got %s", describeValue(v))
}
