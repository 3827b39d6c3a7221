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

func TestDecodeOptions(t *testing.T) {
	c := &liveClient{addrs: []string{"a"}}
	l := slog.Default()
	var o testOptions
	err := DecodeOptions(Options{
		"client": c, "log": l, "db": 3, "timeout": "250ms", "optional": 2, "key": "raw",
		"servers": []any{"x:1", "y:2"}, optCookieName: "s", optSecretKeys: [][]byte{}, optLogger: l,
	}, &o)
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
			err := DecodeOptions(tc.given, &o)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.expect) {
				t.Errorf("error = %v, want ErrConfig containing %q", err, tc.expect)
			}
		})
	}
	var none struct{}
	if err := DecodeOptions(Options{"url": "x"}, &none); err == nil || !strings.Contains(err.Error(), "takes no keys of its own") {
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
