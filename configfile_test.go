package sessionplus_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
	_ "github.com/sessionplus/sessionplus/drivers/memory"
	_ "github.com/sessionplus/sessionplus/drivers/redis"
)

const (
	fileKey    = "a secret key of 32 bytes or more, from the environment"
	fileOldKey = "the key before it, still accepted when reading cookies"
)

const okJSON = `{
  "secret_keys_env": ["SP_TEST_KEY", "SP_TEST_OLD_KEY"],
  "sessions": [
    {"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": ["csrf_token"]},
    {"cookie_name": "session", "session_type": "memory", "session_fields": {"include": ["user_id", "user_data"]},
     "session_lifetime": "2h", "session_permanent_lifetime": 2592000, "key_prefix": "app", "use_signer": true,
     "cookie_httponly": true, "cookie_path": "/"},
    {"cookie_name": "data", "session_fields": "auto", "cookie_max_age": 86400, "cookie_samesite": "Strict",
     "secret_keys_env": ["SP_TEST_DATA_KEY"]}
  ]
}
`

// okYAML is okJSON in YAML, with a merge key.
const okYAML = `# the same configuration as okJSON
secret_keys_env: [SP_TEST_KEY, SP_TEST_OLD_KEY]
sessions:
  - cookie_name: csrf
    session_type: secure_cookie
    session_fields: [csrf_token]
  - <<: {cookie_httponly: true, cookie_path: /}
    cookie_name: session
    session_type: memory
    session_fields:
      include: [user_id, user_data]
    session_lifetime: 2h
    session_permanent_lifetime: 2592000
    key_prefix: app
    use_signer: true
  - cookie_name: data
    session_fields: auto
    cookie_max_age: 86400
    cookie_samesite: Strict
    secret_keys_env: SP_TEST_DATA_KEY
`

func setFileEnv(t *testing.T) {
	t.Setenv("SP_TEST_KEY", fileKey)
	t.Setenv("SP_TEST_OLD_KEY", fileOldKey)
	t.Setenv("SP_TEST_DATA_KEY", fileKey+" (data)")
	t.Setenv("SP_TEST_SHORT", "too short")
	t.Setenv("SP_TEST_EMPTY", "")
	os.Unsetenv("SP_TEST_UNSET")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigFile(t *testing.T) {
	setFileEnv(t)
	want := []sessionplus.Options{
		{"cookie_name": "csrf", "session_type": "secure_cookie", "session_fields": []any{"csrf_token"}},
		{"cookie_name": "session", "session_type": "memory", "session_fields": map[string]any{"include": []any{"user_id", "user_data"}},
			"session_lifetime": "2h", "session_permanent_lifetime": 2592000, "key_prefix": "app", "use_signer": true,
			"cookie_httponly": true, "cookie_path": "/"},
		{"cookie_name": "data", "session_fields": "auto", "cookie_max_age": 86400, "cookie_samesite": "Strict",
			"secret_keys": [][]byte{[]byte(fileKey + " (data)")}},
	}
	for _, tc := range []struct{ name, file, content string }{
		{"ok, json", "sessions.json", okJSON},
		{"ok, yaml", "sessions.yaml", okYAML},
		{"ok, yml", "sessions.yml", okYAML},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := sessionplus.LoadConfigFile(writeFile(t, tc.file, tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.SecretKeys, [][]byte{[]byte(fileKey), []byte(fileOldKey)}) {
				t.Errorf("SecretKeys = %q", cfg.SecretKeys)
			}
			if !reflect.DeepEqual(cfg.Sessions, want) {
				t.Errorf("Sessions =\n%#v\nwant\n%#v", cfg.Sessions, want)
			}
			m, err := sessionplus.New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := len(sessionplus.SessionTypes(m)); got != 3 {
				t.Errorf("%d sessions", got)
			}
		})
	}
}

// TestConfigFileYAMLValues checks that YAML gives the plain values JSON
// gives, whatever YAML spelling the file uses.
func TestConfigFileYAMLValues(t *testing.T) {
	cfg, err := sessionplus.ParseConfig("v.yaml", []byte(`sessions:
  - &first
    cookie_name: a
    session_fields: &fields [x, "y"]
    int: 0x10
    float: 1.5
    whole: 3600.0
    yes: yes
    bool: true
    null: ~
    date: 2026-11-27
    text: |
      two
      lines
  - <<: *first
    cookie_name: b
    session_fields: *fields
`))
	if err != nil {
		t.Fatal(err)
	}
	a := sessionplus.Options{"cookie_name": "a", "session_fields": []any{"x", "y"}, "int": 16, "float": 1.5, "whole": 3600.0,
		"yes": "yes", "bool": true, "null": nil, "date": "2026-11-27", "text": "two\nlines\n"}
	b := sessionplus.Options{}
	for k, v := range a {
		b[k] = v
	}
	b["cookie_name"] = "b"
	if !reflect.DeepEqual(cfg.Sessions, []sessionplus.Options{a, b}) {
		t.Errorf("Sessions =\n%#v", cfg.Sessions)
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	setFileEnv(t)
	session := func(extra string) string {
		return "secret_keys_env: [SP_TEST_KEY]\nsessions:\n  - cookie_name: csrf\n    session_fields: [csrf_token]\n  - cookie_name: data\n" + extra
	}
	for _, tc := range []struct {
		name         string
		givenFile    string
		givenContent string
		whenNew      bool     // through NewFromFile, whose errors come from New
		expectError  []string // substrings of the error
	}{
		{
			name:         "nok, yaml syntax",
			givenFile:    "sessions.yaml",
			givenContent: "sessions:\n  - cookie_name: a\n    session_fields: [a, b\n  - cookie_name: b\n",
			expectError:  []string{"sessions.yaml:", "YAML syntax error"},
		},
		{
			name:         "nok, yaml syntax with its line",
			givenFile:    "sessions.yaml",
			givenContent: "sessions:\n  - cookie_name: a\n    cookie_path: /x: y\n",
			expectError:  []string{"sessions.yaml:3: YAML syntax error: mapping values are not allowed in this context"},
		},
		{
			name:         "nok, json syntax",
			givenFile:    "sessions.json",
			givenContent: "{\n  \"sessions\": [\n    {\"cookie_name\": \"a\",}\n  ]\n}\n",
			expectError:  []string{"sessions.json:3:", "JSON syntax error", "invalid character '}'"},
		},
		{
			name:         "nok, json cut short",
			givenFile:    "sessions.json",
			givenContent: "{\n  \"sessions\": [\n",
			expectError:  []string{"sessions.json:3: JSON syntax error: unexpected end of file"},
		},
		{
			name:         "nok, json with two values",
			givenFile:    "sessions.json",
			givenContent: "{\"sessions\": [{\"cookie_name\": \"a\"}]}\n{}\n",
			expectError:  []string{"sessions.json:2:", "unexpected data after the top-level object"},
		},
		{
			name:         "nok, unknown top-level key",
			givenFile:    "sessions.yaml",
			givenContent: "secret_keys_env: [SP_TEST_KEY]\nsesions:\n  - cookie_name: a\n",
			expectError:  []string{`sessions.yaml:2: unknown top-level key "sesions"`, "known keys: secret_keys_env, sessions"},
		},
		{
			name:         "nok, unknown top-level key in json",
			givenFile:    "sessions.json",
			givenContent: "{\n  \"sessions\": [{\"cookie_name\": \"a\"}],\n  \"secret_keys\": [\"x\"]\n}",
			expectError:  []string{`sessions.json:3: unknown top-level key "secret_keys"`},
		},
		{
			name:         "nok, no sessions",
			givenFile:    "sessions.yaml",
			givenContent: "secret_keys_env: [SP_TEST_KEY]\n",
			expectError:  []string{`sessions.yaml:1: key "sessions": required`},
		},
		{
			name:         "nok, empty sessions",
			givenFile:    "sessions.json",
			givenContent: `{"sessions": []}`,
			expectError:  []string{`sessions.json:1: key "sessions": the list of sessions is empty`},
		},
		{
			name:         "nok, a session that is not an object",
			givenFile:    "sessions.yaml",
			givenContent: "sessions:\n  - csrf\n",
			expectError:  []string{`sessions.yaml:2: session #1: expected an object of the session's keys, got string "csrf"`},
		},
		{
			name:         "nok, empty file",
			givenFile:    "sessions.yaml",
			givenContent: "# nothing\n",
			expectError:  []string{"sessions.yaml: the file is empty"},
		},
		{
			name:         "nok, two yaml documents",
			givenFile:    "sessions.yaml",
			givenContent: "sessions:\n  - cookie_name: a\n---\nsessions: []\n",
			expectError:  []string{"sessions.yaml:3: a second YAML document"},
		},
		{
			name:         "nok, duplicate key",
			givenFile:    "sessions.yaml",
			givenContent: "sessions:\n  - cookie_name: a\n    session_type: memory\n    session_type: redis\n",
			expectError:  []string{`sessions.yaml:4: key "session_type" is already defined at line 3`},
		},
		{
			name:         "nok, duplicate key in json",
			givenFile:    "sessions.json",
			givenContent: "{\"sessions\": [],\n \"sessions\": []}",
			expectError:  []string{`sessions.json:2: key "sessions" is already defined at line 1`},
		},
		{
			name:         "nok, a key that is not a string",
			givenFile:    "sessions.yaml",
			givenContent: "sessions:\n  - cookie_name: a\n    ? [x, y]\n    : z\n",
			expectError:  []string{`sessions.yaml:3: a key must be a string, got a list`},
		},
		{
			name:         "nok, unknown format",
			givenFile:    "sessions.toml",
			givenContent: "x = 1",
			expectError:  []string{`sessions.toml: unknown configuration format ".toml"`},
		},
		{
			name:         "nok, the newest key's env var missing",
			givenFile:    "sessions.yaml",
			givenContent: "secret_keys_env: [SP_TEST_UNSET, SP_TEST_KEY]\nsessions:\n  - cookie_name: a\n",
			expectError:  []string{`sessions.yaml:1: key "secret_keys_env": environment variable "SP_TEST_UNSET" is not set`},
		},
		{
			name:         "nok, empty env var",
			givenFile:    "sessions.json",
			givenContent: `{"secret_keys_env": ["SP_TEST_EMPTY"], "sessions": [{"cookie_name": "a"}]}`,
			expectError:  []string{`sessions.json:1: key "secret_keys_env": environment variable "SP_TEST_EMPTY" is empty`},
		},
		{
			name:         "nok, short secret",
			givenFile:    "sessions.yaml",
			givenContent: "secret_keys_env:\n  - SP_TEST_SHORT\nsessions:\n  - cookie_name: a\n",
			expectError:  []string{`sessions.yaml:2: key "secret_keys_env": environment variable "SP_TEST_SHORT" holds 9 bytes`, "at least 32 bytes"},
		},
		{
			name:         "nok, a session's missing env var",
			givenFile:    "sessions.yaml",
			givenContent: session("    secret_keys_env: [SP_TEST_UNSET]\n"),
			expectError:  []string{`sessions.yaml:6: session "data": key "secret_keys_env": environment variable "SP_TEST_UNSET" is not set`},
		},
		{
			name:         "nok, a session's short secret",
			givenFile:    "sessions.yaml",
			givenContent: session("    secret_keys_env: SP_TEST_SHORT\n"),
			expectError:  []string{`sessions.yaml:6: session "data": key "secret_keys_env": environment variable "SP_TEST_SHORT" holds 9 bytes`},
		},
		{
			name:         "nok, secret keys in the file",
			givenFile:    "sessions.yaml",
			givenContent: session("    secret_keys: [\"0123456789abcdef0123456789abcdef\"]\n"),
			expectError:  []string{`sessions.yaml:6: session "data": key "secret_keys": secret keys never go in the file`, "secret_keys_env"},
		},
		{
			name:         "nok, KEY_env of a variable that is not set",
			givenFile:    "sessions.yaml",
			givenContent: session("    session_type: redis\n    url_env: SP_TEST_UNSET\n"),
			expectError:  []string{`sessions.yaml:7: session "data": key "url_env": environment variable "SP_TEST_UNSET" is not set`},
		},
		{
			name:         "nok, KEY_env and KEY",
			givenFile:    "sessions.yaml",
			givenContent: session("    url: redis://x\n    url_env: SP_TEST_KEY\n"),
			expectError:  []string{`sessions.yaml:7: session "data": key "url_env": "url" is given too`},
		},
		{
			name:         "nok, a live client",
			givenFile:    "sessions.json",
			givenContent: `{"sessions": [{"cookie_name": "s", "session_type": "redis", "client": "redis://x"}]}`,
			expectError:  []string{`sessions.json:1: session "s": key "client": a live client cannot come from a file`},
		},
		{
			name:         "nok, unknown session key",
			givenFile:    "sessions.yaml",
			givenContent: session("    cookie_nmae: x\n"),
			whenNew:      true,
			expectError:  []string{`sessions.yaml:6: session "data" (secure_cookie): unknown key "cookie_nmae"`},
		},
		{
			name:         "nok, unknown session key in json",
			givenFile:    "sessions.json",
			givenContent: "{\"sessions\": [\n  {\"cookie_name\": \"s\", \"session_type\": \"memory\",\n   \"collection\": \"x\"}\n]}",
			whenNew:      true,
			expectError:  []string{`sessions.json:3: session "s" (memory): unknown key "collection"`},
		},
		{
			name:         "nok, wrong duration",
			givenFile:    "sessions.yaml",
			givenContent: session("    session_lifetime: 1 day\n"),
			whenNew:      true,
			expectError:  []string{`sessions.yaml:6: session "data": key "session_lifetime": expected a duration such as "24h" or whole seconds, got string "1 day"`},
		},
		{
			name:         "nok, unknown session_type",
			givenFile:    "sessions.yaml",
			givenContent: session("    session_type: reddis\n"),
			whenNew:      true,
			expectError:  []string{`sessions.yaml:6: session "data": key "session_type": unknown session_type "reddis"`},
		},
		{
			name:         "nok, a session without cookie_name",
			givenFile:    "sessions.yaml",
			givenContent: "secret_keys_env: [SP_TEST_KEY]\nsessions:\n  - cookie_name: a\n  - session_type: memory\n",
			whenNew:      true,
			expectError:  []string{`sessions.yaml:4: session #2: key "cookie_name": required`},
		},
		{
			name:         "nok, secure_cookie without keys",
			givenFile:    "sessions.yaml",
			givenContent: "sessions:\n  - cookie_name: a\n    cookie_path: /\n",
			whenNew:      true,
			expectError:  []string{`sessions.yaml:2: session "a" (secure_cookie): key "secret_keys": required`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.givenFile, tc.givenContent)
			var err error
			if tc.whenNew {
				var m *sessionplus.Manager
				m, err = sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{})
				if m != nil {
					m.Close()
				}
			} else {
				_, err = sessionplus.LoadConfigFile(path)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, sessionplus.ErrConfig) && !errors.Is(err, sessionplus.ErrUnknownDriver) {
				t.Errorf("error %v matches neither ErrConfig nor ErrUnknownDriver", err)
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
			for _, want := range tc.expectError {
				if !strings.Contains(msg, want) {
					t.Errorf("error\n  %s\ndoes not contain\n  %s", msg, want)
				}
			}
			if strings.Count(msg, "sessionplus:") != 1 {
				t.Errorf("error %q repeats its prefix", msg)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	setFileEnv(t)
	cfg, err := sessionplus.ParseConfig("embedded/sessions.json", []byte(okJSON))
	if err != nil || len(cfg.Sessions) != 3 {
		t.Fatalf("ParseConfig = %v, %v", cfg, err)
	}
	_, err = sessionplus.ParseConfig("embedded/sessions.yaml", []byte("sessions: {}"))
	if err == nil || !strings.Contains(err.Error(), `embedded/sessions.yaml:1: key "sessions": expected a list of sessions, got an object`) {
		t.Errorf("error = %v", err)
	}
}

func TestNewFromFileArguments(t *testing.T) {
	setFileEnv(t)
	path := writeFile(t, "sessions.yaml", "sessions:\n  - cookie_name: a\n")
	if _, err := sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{Sessions: []sessionplus.Options{{}}}); err == nil || !strings.Contains(err.Error(), "cfg.Sessions must be empty") {
		t.Errorf("Sessions in cfg: %v", err)
	}
	// Secret keys from cfg when the file names none.
	m, err := sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{SecretKeys: [][]byte{[]byte(fileKey)}})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	path = writeFile(t, "keys.yaml", "secret_keys_env: [SP_TEST_KEY]\nsessions:\n  - cookie_name: a\n")
	if _, err := sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{SecretKeys: [][]byte{[]byte(fileKey)}}); err == nil || !strings.Contains(err.Error(), "keys.yaml:1:") {
		t.Errorf("keys in both: %v", err)
	}
	if _, err := sessionplus.LoadConfigFile(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// TestSampleConfigFile reads example/sessions.yaml, without a server.
func TestSampleConfigFile(t *testing.T) {
	t.Setenv("SESSIONPLUS_SECRET", fileKey)
	t.Setenv("SESSIONPLUS_REDIS_URL", "redis://127.0.0.1:6379/0")
	cfg, err := sessionplus.LoadConfigFile("example/sessions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sessions) != 3 || cfg.Sessions[1]["url"] != "redis://127.0.0.1:6379/0" || cfg.Sessions[1]["session_lifetime"] != "2h" {
		t.Errorf("Sessions = %v", cfg.Sessions)
	}
}

// TestConfigFileRedis loads example/sessions.yaml, whose server-side
// session is on Redis at $SESSIONPLUS_REDIS_URL, and runs the end-to-end
// test through it. Two Managers built from the file share the sessions, as
// two instances of an application do.
func TestConfigFileRedis(t *testing.T) {
	drivertest.ServerFromEnv(t, "SESSIONPLUS_REDIS_URL")
	t.Setenv("SESSIONPLUS_SECRET", fileKey)
	ctx := context.Background()
	m1, err := sessionplus.NewFromFile(ctx, "example/sessions.yaml", sessionplus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	if got := sessionplus.SessionTypes(m1)[1]; got != "session/redis" {
		t.Fatalf("the second session is %q, want session on redis", got)
	}
	m2, err := sessionplus.NewFromFile(ctx, "example/sessions.yaml", sessionplus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()

	b := newJarClient(t, serveMuxApp(m1))
	if res, body := b.do("POST", "/login"); res.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %q", res.StatusCode, body)
	}
	if _, body := b.do("GET", "/me"); !strings.Contains(body, `"user_id":42`) {
		t.Errorf("/me after login = %q", body)
	}
	// The other instance: same cookies, same user.
	other := newJarClient(t, serveMuxApp(m2))
	other.jar.SetCookies(other.u, b.jar.Cookies(b.u))
	if _, body := other.do("GET", "/me"); !strings.Contains(body, `"user_id":42`) {
		t.Errorf("/me on a second instance = %q", body)
	}
	if res, _ := b.do("POST", "/logout"); res.StatusCode != http.StatusNoContent {
		t.Errorf("logout: %d", res.StatusCode)
	}
	if res, _ := other.do("GET", "/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/me on the second instance after logout: %d", res.StatusCode)
	}
}

// TestLoadConfigFileOlderKeyUnset: an older key of secret_keys_env that is
// not set (no rotation under way) or empty is skipped; a short one is not.
func TestLoadConfigFileOlderKeyUnset(t *testing.T) {
	t.Setenv("SP_TEST_KEY", "0123456789abcdef0123456789abcdef-new")
	t.Setenv("SP_TEST_EMPTY", "")
	t.Setenv("SP_TEST_SHORT", "too short")
	dir := t.TempDir()
	write := func(content string) string {
		p := filepath.Join(dir, "s.yaml")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := sessionplus.LoadConfigFile(write("secret_keys_env: [SP_TEST_KEY, SP_TEST_UNSET, SP_TEST_EMPTY]\nsessions:\n  - cookie_name: a\n"))
	if err != nil || len(cfg.SecretKeys) != 1 {
		t.Fatalf("with the older keys unset or empty: %v, %d keys; want the newest only", err, len(cfg.SecretKeys))
	}
	if _, err := sessionplus.LoadConfigFile(write("secret_keys_env: [SP_TEST_KEY, SP_TEST_SHORT]\nsessions:\n  - cookie_name: a\n")); err == nil || !strings.Contains(err.Error(), "SP_TEST_SHORT") {
		t.Errorf("a short older key: %v, want an error naming it", err)
	}
}

// TestConfigFileUserField: user_field at the top of a file is
// Config.UserField; a value that is not a field name, or one that differs
// from cfg.UserField, is an error naming the line.
func TestConfigFileUserField(t *testing.T) {
	setFileEnv(t)
	path := writeFile(t, "users.yaml", "secret_keys_env: [SP_TEST_KEY]\nuser_field: user_id\nsessions:\n  - cookie_name: s\n    session_type: memory\n")
	cfg, err := sessionplus.LoadConfigFile(path)
	if err != nil || cfg.UserField != "user_id" {
		t.Fatalf("LoadConfigFile: UserField %q, %v; want user_id", cfg.UserField, err)
	}
	m, err := sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if list, err := m.UserSessions(context.Background(), "42"); err != nil || len(list) != 0 {
		t.Errorf("UserSessions of a Manager from a file with user_field = %v, %v; want none and no error", list, err)
	}
	if _, err := sessionplus.NewFromFile(context.Background(), path, sessionplus.Config{UserField: "uid"}); err == nil || !strings.Contains(err.Error(), "users.yaml:2:") {
		t.Errorf("user_field in the file and another cfg.UserField: %v; want an error at users.yaml:2", err)
	}
	bad := writeFile(t, "bad.yaml", "user_field: [a]\nsessions:\n  - cookie_name: s\n    session_type: memory\n")
	if _, err := sessionplus.LoadConfigFile(bad); !errors.Is(err, sessionplus.ErrConfig) || !strings.Contains(err.Error(), "bad.yaml:1:") {
		t.Errorf("user_field: [a]: %v; want a configuration error at bad.yaml:1", err)
	}
}
