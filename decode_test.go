package sessionplus

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type liveClient struct{ addrs []string }

type testOptions struct {
	Client   *liveClient    `mapstructure:"client"`
	Logger   any            `mapstructure:"log"`
	DB       int            `mapstructure:"db"`
	Timeout  time.Duration  `mapstructure:"timeout"`
	Optional *time.Duration `mapstructure:"optional"`
	Key      []byte         `mapstructure:"key"`
	Servers  []string       `mapstructure:"servers"`
}

func TestDecode(t *testing.T) {
	c := &liveClient{addrs: []string{"a"}}
	l := slog.Default()
	var o testOptions
	err := DriverConfig{Options: Options{
		"client": c, "log": l, "db": 3, "timeout": "250ms", "optional": 2, "key": "raw",
		"servers": []any{"x:1", "y:2"},
	}}.Decode(&o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Client != c {
		t.Error("a live *client was copied instead of kept")
	}
	if o.Logger != l || o.DB != 3 || o.Timeout != 250*time.Millisecond || *o.Optional != 2*time.Second || string(o.Key) != "raw" || len(o.Servers) != 2 {
		t.Errorf("decoded %+v", o)
	}

	for _, tc := range []struct {
		name   string
		given  Options
		expect string
	}{
		{"nok, unknown key", Options{"dbb": 1}, `unknown key "dbb" (known keys: client, db, key, log, optional, servers, timeout)`},
		{"nok, wrong type", Options{"db": "three"}, `key "db": expected int, got string "three"`},
		{"nok, client of another type", Options{"client": "redis://"}, `key "client": expected *sessionplus.liveClient, got string "redis://"`},
		{"nok, client of another struct type", Options{"client": &testOptions{}}, `key "client": expected *sessionplus.liveClient, got *sessionplus.testOptions`},
		{"nok, bad duration", Options{"timeout": "soon"}, `key "timeout": expected a duration such as "24h" or whole seconds, got string "soon"`},
		{"nok, fractional seconds", Options{"timeout": 0.5}, `key "timeout"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o testOptions
			err := DriverConfig{Options: tc.given}.Decode(&o)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.expect) {
				t.Errorf("error = %v, want ErrConfig containing %q", err, tc.expect)
			}
		})
	}
	var none struct{}
	if err := (DriverConfig{Options: Options{"url": "x"}}).Decode(&none); err == nil || !strings.Contains(err.Error(), "takes no keys of its own") {
		t.Errorf("no-keys driver error = %v", err)
	}
}

func TestValidKeyPrefix(t *testing.T) {
	for _, ok := range []string{"session", "app:v2", "é"} {
		if !validKeyPrefix(ok) {
			t.Errorf("validKeyPrefix(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "a b", "a\tb", "a\x7f", "a\x01", "\xff"} {
		if validKeyPrefix(bad) {
			t.Errorf("validKeyPrefix(%q) = true", bad)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"redis", "redis", 0},
		{"reddis", "redis", 1},
		{"sesison_fields", "session_fields", 1}, // a swap of neighbours is one edit
		{"cookie_nmae", "cookie_name", 1},
		{"key_prefx", "key_prefix", 1},
		{"", "abc", 3},
		{"memroy", "memory", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	if got := closest("colour", []string{"cookie_path", "db"}); got != "" {
		t.Errorf("closest(colour) = %q, want none", got)
	}
}

// checkedOptions has a Validate method, which counts its calls.
type checkedOptions struct {
	Min   int `mapstructure:"min"`
	Max   int `mapstructure:"max"`
	calls *int
}

func (o *checkedOptions) Validate(cfg DriverConfig) error {
	if o.calls != nil {
		*o.calls++
	}
	if _, ok := cfg.Options["max"]; !ok {
		return ConfigErrorf(`key "max": required`)
	}
	if o.Max < o.Min {
		return ConfigErrorf(`keys "min" and "max": min %d is above max %d`, o.Min, o.Max)
	}
	return nil
}

// TestDecodeValidates: Decode calls the options' Validate after decoding,
// with the options as given, and returns its error.
func TestDecodeValidates(t *testing.T) {
	calls := 0
	o := checkedOptions{calls: &calls}
	if err := (DriverConfig{Options: Options{"min": 1, "max": 3}}).Decode(&o); err != nil || o.Max != 3 || calls != 1 {
		t.Errorf("err = %v, max = %d, calls = %d", err, o.Max, calls)
	}
	o = checkedOptions{calls: &calls}
	err := DriverConfig{Options: Options{"min": 1}}.Decode(&o)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "max" || !errors.Is(err, ErrConfig) {
		t.Errorf("missing max: err = %v, want a ConfigError of key max", err)
	}
	calls = 0
	o = checkedOptions{calls: &calls}
	if err := (DriverConfig{Options: Options{"min": "x", "max": 3}}).Decode(&o); err == nil || calls != 0 {
		t.Errorf("a key of the wrong type: err = %v, Validate calls = %d, want an error and none", err, calls)
	}
}

// TestDryRun: in a dry Open, Decode records the driver's keys and every
// mistake, each key on its own, and returns errDryRun; Validate runs only
// once every key decoded, and its mistakes are recorded too.
func TestDryRun(t *testing.T) {
	dry := &dryRun{}
	var o testOptions
	err := DriverConfig{Options: Options{"db": "x", "timeout": "soon", "dbb": 1, "servers": []any{"a"}}, dry: dry}.Decode(&o)
	if err != errDryRun || !dry.called {
		t.Fatalf("err = %v, called %v", err, dry.called)
	}
	if len(dry.keys) != 7 || dry.keys["db"].String() != "int" {
		t.Errorf("keys = %v", dry.keys)
	}
	if len(dry.unknown) != 1 || dry.unknown[0] != "dbb" {
		t.Errorf("unknown = %v", dry.unknown)
	}
	if len(dry.errs) != 2 || dry.errs[0].Key != "db" || dry.errs[1].Key != "timeout" {
		t.Errorf("errs = %v", dry.errs)
	}

	dry = &dryRun{}
	err = DriverConfig{Options: Options{"min": 5, "max": 2}, dry: dry}.Decode(&checkedOptions{})
	if err != errDryRun || len(dry.errs) != 1 || dry.errs[0].Key != "min" || dry.errs[0].Error() != `keys "min" and "max": min 5 is above max 2` {
		t.Errorf("Validate in a dry run: err = %v, errs = %v", err, dry.errs)
	}
}

// TestDecodeWholeNumbers: an integer key takes only a number it can hold
// exactly; mapstructure alone would truncate 1.5 to 1 and wrap 300 in an
// int8.
func TestDecodeWholeNumbers(t *testing.T) {
	type opts struct {
		N int  `mapstructure:"n"`
		S int8 `mapstructure:"s"`
		U uint `mapstructure:"u"`
		P *int `mapstructure:"p"`
	}
	for _, tc := range []struct {
		given Options
		ok    bool
	}{
		{Options{"n": 3}, true},
		{Options{"n": float64(3)}, true}, // a JSON number
		{Options{"n": -2.0}, true},
		{Options{"p": 7.0}, true},
		{Options{"n": 1.5}, false},
		{Options{"p": 1.5}, false},
		{Options{"n": 1e20}, false},
		{Options{"s": 300}, false},
		{Options{"s": 127.0}, true},
		{Options{"u": -1}, false},
		{Options{"u": -1.0}, false},
		{Options{"u": uint64(5)}, true},
	} {
		var o opts
		err := DriverConfig{Options: tc.given}.Decode(&o)
		if (err == nil) != tc.ok {
			t.Errorf("Decode(%v) = %v (decoded %+v), want ok %v", tc.given, err, o, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "expected a whole number")) {
			t.Errorf("Decode(%v) = %v, want a ConfigError saying a whole number was expected", tc.given, err)
		}
	}
}
