package sessionplus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	"github.com/sessionplus/sessionplus/drivers/memory"
	"github.com/sessionplus/sessionplus/drivers/redis"
)

// countingDriver opens memory stores and counts the opens that got past
// Decode, that is the ones that would contact a backend, and the
// Close of the stores it opened.
type countingDriver struct {
	opens, made, closes atomic.Int32
}

type countingOptions struct {
	Fail bool   `mapstructure:"fail"`
	Zone string `mapstructure:"zone"`
}

// Validate is the driver's own check, which decoding cannot do.
func (o *countingOptions) Validate(sessionplus.DriverConfig) error {
	if o.Zone != "" && o.Zone != "eu" && o.Zone != "us" {
		return sessionplus.ConfigErrorf(`key "zone": expected "eu" or "us", got %q`, o.Zone)
	}
	return nil
}

func (d *countingDriver) Open(_ context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var o countingOptions
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	d.opens.Add(1)
	if o.Fail {
		return nil, errors.New("counting: backend down")
	}
	d.made.Add(1)
	return &closeSpy{Store: memory.New(), closed: &d.closes}, nil
}

// closeSpy is a store that counts its Close calls.
type closeSpy struct {
	*memory.Store
	closed *atomic.Int32
}

func (s *closeSpy) Close() error {
	s.closed.Add(1)
	return nil
}

func counterURL(c *drivertest.Listener) string { return "redis://" + c.Addr + "/0" }

func testRegistry(d *countingDriver) *sessionplus.Registry {
	reg := new(sessionplus.Registry)
	reg.Register(cookie.Name, cookie.Driver{})
	reg.Register(memory.Name, memory.Driver{})
	reg.Register(redis.Name, redis.Driver{})
	reg.Register("counting", d)
	return reg
}

// TestConfigFileFiveMistakes is the acceptance test of the configuration
// pipeline: five mistakes in five sessions of one file, one of them a
// Redis session pointing at a server, are all reported with their lines,
// and nothing is contacted.
func TestConfigFileFiveMistakes(t *testing.T) {
	setFileEnv(t)
	srv := drivertest.CountingServer(t)
	t.Setenv("SP_TEST_REDIS_URL", counterURL(srv))
	d := &countingDriver{}
	const file = `secret_keys_env: [SP_TEST_KEY]
sessions:
  - cookie_name: csrf
    session_fields: [csrf_token]
    cookie_samesite: sometimes
  - cookie_name: session
    session_type: redis
    url_env: SP_TEST_REDIS_URL
    timeout: 200ms
    sesion_fields: [user_id]
  - cookie_name: data
    session_type: memory
    key_prefx: app
  - cookie_name: csrf
    session_type: counting
    zone: eu
  - cookie_name: cart
    session_type: reddis
  - cookie_name: prefs
    session_type: counting
    session_fields: auto
`
	path := writeFile(t, "sessions.yaml", file)
	m, err := sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{Registry: testRegistry(d)})
	if err == nil {
		m.Close()
		t.Fatal("no error")
	}
	msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
	want := []string{
		`sessionplus: sessions.yaml:5: session "csrf" (secure_cookie): key "cookie_samesite": expected "Lax", "Strict" or "None", got string "sometimes"`,
		`sessionplus: sessions.yaml:10: session "session" (redis): unknown key "sesion_fields" (did you mean "session_fields"? a redis session takes: `,
		`sessionplus: sessions.yaml:13: session "data" (memory): unknown key "key_prefx" (did you mean "key_prefix"? a memory session takes: `,
		`sessionplus: sessions.yaml:14: session "csrf" (counting): key "cookie_name": duplicate cookie name: #1 "csrf" and #4 "csrf"`,
		`sessionplus: sessions.yaml:18: session "cart": key "session_type": unknown session_type "reddis" (did you mean "redis"?); registered: counting, memory, redis, secure_cookie`,
	}
	t.Logf("the error:\n%s", msg)
	lines := strings.Split(msg, "\n")
	if len(lines) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(lines), len(want), msg)
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d:\n  %s\nwant it to start with\n  %s", i+1, lines[min(i, len(lines)-1)], w)
		}
	}
	// The redis session lists the common keys and its own.
	for _, k := range []string{"session_fields", "cookie_name", "addrs", "url", "timeout"} {
		if !strings.Contains(lines[1], k) {
			t.Errorf("the unknown key of the redis session does not list %q: %s", k, lines[1])
		}
	}
	if strings.Contains(msg, "takes no keys of its own") {
		t.Errorf("a memory session's typo of a common key reads as if the session took no keys:\n%s", msg)
	}
	if !errors.Is(err, sessionplus.ErrConfig) || !errors.Is(err, sessionplus.ErrUnknownDriver) {
		t.Errorf("errors.Is(err, ErrConfig), errors.Is(err, ErrUnknownDriver) = %v, %v; want both", errors.Is(err, sessionplus.ErrConfig), errors.Is(err, sessionplus.ErrUnknownDriver))
	}
	var ce *sessionplus.ConfigError
	if !errors.As(err, &ce) || ce.File != path || ce.Line != 5 || ce.Column != 5 || ce.Session != 1 || ce.Name != "csrf" || ce.Key != "cookie_samesite" {
		t.Errorf("errors.As: %+v", ce)
	}
	if n := srv.Accepted(); n != 0 {
		t.Errorf("the redis server got %d connections, want 0", n)
	}
	if n := d.opens.Load(); n != 0 {
		t.Errorf("%d opens, want 0", n)
	}

	// The control: the same Redis session without the mistake does
	// contact the server (which never answers).
	_, err = sessionplus.New(context.Background(), sessionplus.Config{Registry: testRegistry(d), Sessions: []sessionplus.Options{
		{"cookie_name": "session", "session_type": "redis", "url": counterURL(srv), "timeout": "200ms"},
	}})
	if err == nil || errors.Is(err, sessionplus.ErrConfig) || srv.Accepted() == 0 {
		t.Errorf("a correct redis session: error %v, %d connections; want a failed PING over a connection", err, srv.Accepted())
	}
}

// TestConfigFileMistakesJSON: a JSON file's mistakes have their lines too.
func TestConfigFileMistakesJSON(t *testing.T) {
	setFileEnv(t)
	const file = `{
  "secret_keys_env": ["SP_TEST_KEY"],
  "sessions": [
    {"cookie_name": "csrf",
     "cookie_max_age": "forever"},
    {"cookie_name": "csrf",
     "session_type": "memory",
     "max_sesions": 10}
  ]
}`
	path := writeFile(t, "sessions.json", file)
	_, err := sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
	for _, want := range []string{
		`sessions.json:5: session "csrf": key "cookie_max_age": expected a duration`,
		`sessions.json:6: session "csrf" (memory): key "cookie_name": duplicate cookie name: #1 "csrf" and #2 "csrf"`,
		`sessions.json:8: session "csrf" (memory): unknown key "max_sesions" (did you mean "max_sessions"?`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error\n  %s\ndoes not contain\n  %s", msg, want)
		}
	}
}

// TestConfigErrorsBeforeOpen: every mistake is found before any store is
// opened, a second "auto" and Config.UserField included.
func TestConfigErrorsBeforeOpen(t *testing.T) {
	d := &countingDriver{}
	_, err := sessionplus.New(context.Background(), sessionplus.Config{
		Registry:   testRegistry(d),
		SecretKeys: [][]byte{[]byte(fileKey)},
		UserField:  "user_id",
		Sessions: []sessionplus.Options{
			{"cookie_name": "a", "session_type": "counting", "session_fields": "auto"},
			{"cookie_name": "b", "session_type": "counting", "session_fields": "auto", "zone": 3},
			{"cookie_name": "c", "session_fields": []string{"user_id"}},
		},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`sessionplus: UserField "user_id": no server-side session owns it`,
		`sessionplus: session "b" (counting): key "session_fields": "auto" is already used by session "a" (#1)`,
		`sessionplus: session "b" (counting): key "zone": expected string, got int`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n  %v\ndoes not contain\n  %s", err, want)
		}
	}
	if n := d.opens.Load(); n != 0 {
		t.Errorf("%d opens, want 0", n)
	}
	// The ConfigErrors come in session order.
	var sessions []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *sessionplus.ConfigError
		if errors.As(e, &ce) {
			sessions = append(sessions, ce.Session)
		}
	}
	if fmt.Sprint(sessions) != "[0 2 2]" {
		t.Errorf("sessions of the errors = %v, want [0 2 2]", sessions)
	}
}

// TestDriverChecksBeforeAnyBackend: a driver's own check (its options'
// Validate) fails the configuration before the backend of an earlier,
// correct session is contacted, and the driver gets the root package's
// inputs as DriverConfig, not as keys of its options.
func TestDriverChecksBeforeAnyBackend(t *testing.T) {
	srv := drivertest.CountingServer(t)
	d := &countingDriver{}
	_, err := sessionplus.New(context.Background(), sessionplus.Config{
		Registry: testRegistry(d),
		Sessions: []sessionplus.Options{
			{"cookie_name": "session", "session_type": "redis", "url": counterURL(srv), "timeout": "200ms"},
			{"cookie_name": "geo", "session_type": "counting", "zone": "mars"},
		},
	})
	var ce *sessionplus.ConfigError
	if !errors.As(err, &ce) || ce.Session != 2 || ce.Key != "zone" || !strings.Contains(err.Error(), `session "geo" (counting): key "zone": expected "eu" or "us", got "mars"`) {
		t.Fatalf("error = %v, want the ConfigError of session 2's zone", err)
	}
	if n := srv.Accepted(); n != 0 {
		t.Errorf("the redis server of session 1 got %d connections, want 0", n)
	}
	if n := d.opens.Load(); n != 0 {
		t.Errorf("%d opens, want 0", n)
	}

	var got sessionplus.DriverConfig
	reg := testRegistry(d)
	reg.Register("spy", driverFunc(func(cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
		if err := cfg.Decode(&struct{}{}); err != nil {
			return nil, err
		}
		got = cfg
		return memory.New(), nil
	}))
	logger := slog.New(slog.DiscardHandler)
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		Registry: reg, Logger: logger, SecretKeys: [][]byte{[]byte(fileKey)},
		Sessions: []sessionplus.Options{{"cookie_name": "spied", "session_type": "spy", "key_prefix": "p"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got.Name != "spied" || got.Logger != logger || len(got.SecretKeys) != 1 || string(got.SecretKeys[0]) != fileKey || len(got.Options) != 0 {
		t.Errorf("the driver got %+v; want the cookie name, the logger and the key, and no option keys", got)
	}
}

// driverFunc is a Driver made of a function.
type driverFunc func(sessionplus.DriverConfig) (sessionplus.Store, error)

func (f driverFunc) Open(_ context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	return f(cfg)
}

// TestConfigErrorNeverClosesACallersStore: a store passed in under "store"
// stays open whatever fails, and the stores the library opened are closed.
func TestConfigErrorNeverClosesACallersStore(t *testing.T) {
	var mine atomic.Int32
	d := &countingDriver{}
	live := &closeSpy{Store: memory.New(), closed: &mine}
	for _, tc := range []struct {
		name  string
		given []sessionplus.Options
	}{
		{"nok, a mistake in step 1", []sessionplus.Options{
			{"cookie_name": "a", "store": live},
			{"cookie_name": "b", "session_type": "counting", "session_lifetime": "0s"},
		}},
		{"nok, a store that fails to open", []sessionplus.Options{
			{"cookie_name": "a", "store": live},
			{"cookie_name": "b", "session_type": "counting"},
			{"cookie_name": "c", "session_type": "counting", "fail": true},
		}},
		{"nok, a store that refuses its key_prefix", []sessionplus.Options{
			{"cookie_name": "a", "store": live},
			{"cookie_name": "b", "session_type": "counting"},
			{"cookie_name": "c", "store": picky{memory.New()}, "key_prefix": "toolong"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.made.Store(0)
			d.closes.Store(0)
			_, err := sessionplus.New(context.Background(), sessionplus.Config{Registry: testRegistry(d), Sessions: tc.given})
			if err == nil {
				t.Fatal("no error")
			}
			if n := mine.Load(); n != 0 {
				t.Errorf("the caller's store was closed %d times", n)
			}
			if d.made.Load() != d.closes.Load() {
				t.Errorf("%d stores opened, %d closed", d.made.Load(), d.closes.Load())
			}
		})
	}
}

// TestUnknownKeyHints: an unknown key names the closest valid key of the
// session, common or the driver's.
func TestUnknownKeyHints(t *testing.T) {
	key := [][]byte{[]byte(fileKey)}
	for _, tc := range []struct {
		name   string
		given  sessionplus.Options
		expect string
	}{
		{"nok, a swap of neighbours", sessionplus.Options{"cookie_name": "s", "session_type": "memory", "sesison_fields": "auto"}, `unknown key "sesison_fields" (did you mean "session_fields"?`},
		{"nok, a driver's key", sessionplus.Options{"cookie_name": "s", "session_type": "memory", "max_session": 3}, `unknown key "max_session" (did you mean "max_sessions"?`},
		{"nok, a secure_cookie session lists no server-side key", sessionplus.Options{"cookie_name": "s", "colour": "blue"}, `unknown key "colour" (a secure_cookie session takes: cookie_domain, cookie_httponly, cookie_max_age, cookie_name, cookie_path, cookie_samesite, cookie_secure, secret_keys, session_absolute_lifetime, session_fields, session_lifetime, session_permanent_lifetime, session_type, store)`},
		{"nok, nothing close", sessionplus.Options{"cookie_name": "s", "session_type": "memory", "colour": "blue"}, `unknown key "colour" (a memory session takes: cookie_domain,`},
		{"nok, a live store", sessionplus.Options{"cookie_name": "s", "store": memory.New(), "cookie_nmae": "x"}, `unknown key "cookie_nmae" (did you mean "cookie_name"? with a live "store" the session takes only the common keys: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sessionplus.New(context.Background(), sessionplus.Config{SecretKeys: key, Sessions: []sessionplus.Options{tc.given}})
			if !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), tc.expect) {
				t.Errorf("error\n  %v\nwant ErrConfig containing\n  %s", err, tc.expect)
			}
		})
	}
}

// TestConfigFileJSONValues: the one parser reads JSON as encoding/json
// does (whole numbers aside, which are ints), tabs and escapes included.
func TestConfigFileJSONValues(t *testing.T) {
	const file = "{\n\t\"sessions\": [\n\t\t{\"cookie_name\": \"a\",\t\"s\": \"\\u00e9\\/\\\"\\t\", \"n\": 1.5, \"i\": -3, \"e\": 1e3,\n\t\t \"yes\": \"yes\", \"b\": false, \"z\": null, \"l\": [1, \"x\", {\"k\": []}], \"<<\": \"not a merge\", \"emoji\": \"\\ud83d\\ude00\"}\n\t]\n}\n"
	cfg, err := sessionplus.ParseConfig("s.json", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ Sessions []map[string]any }
	if err := json.Unmarshal([]byte(file), &want); err != nil {
		t.Fatal(err)
	}
	w := want.Sessions[0]
	w["i"] = -3
	w["l"].([]any)[0] = 1
	got := map[string]any(cfg.Sessions[0])
	if !reflect.DeepEqual(got, w) {
		t.Errorf("got\n  %#v\nwant\n  %#v", got, w)
	}
}
