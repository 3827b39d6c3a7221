package sessionplus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Configuration files: the sessions as JSON or YAML, with the secret keys in
// environment variables that the file names.
//
//	secret_keys_env: [SESSION_KEY, SESSION_KEY_OLD]   # newest first
//	sessions:
//	  - cookie_name: csrf
//	    session_fields: [csrf_token]
//	  - cookie_name: session
//	    session_type: redis
//	    url_env: REDIS_URL                            # the value of $REDIS_URL
//	    session_fields: [user_id]
//	    session_lifetime: 2h
//	  - cookie_name: data
//	    session_fields: auto

// Keys of a configuration file's top level.
const (
	fileKeySecretKeysEnv = "secret_keys_env"
	fileKeySessions      = "sessions"
)

// LoadConfigFile reads the configuration of the sessions from a JSON
// (.json) or YAML (.yaml, .yml) file and returns the [Config] it describes:
// Sessions and SecretKeys; Logger and Registry are left for the caller.
//
// The file holds one object with two keys:
//
//   - sessions (required): the list of sessions, each an object with the
//     keys of an [Options] map (cookie_name, session_type, session_fields,
//     url, ...). Durations are strings ("24h") or whole seconds.
//   - secret_keys_env: the names of the environment variables that hold the
//     secret keys, newest first (Config.SecretKeys). Each variable's value
//     is the key, as raw bytes (so `openssl rand -base64 48` makes a good
//     one: 64 characters). The first variable must be set; the others,
//     older keys kept while cookies signed with them expire, may be unset or
//     empty and are then skipped. The keys themselves never go in the file:
//     a secret_keys key is an error.
//
// A session can name its own keys with secret_keys_env, and take any other
// key's value from an environment variable with KEY_env: url_env: REDIS_URL
// sets url to the value of $REDIS_URL, so a URL with a password stays out of
// the file too. A variable that is not set or is empty (but for the older
// keys of secret_keys_env), or holds a secret key shorter than
// [MinSecretKeyLen] bytes, is an error that names the file and the variable.
//
// YAML is read into the same plain values JSON gives: objects, lists,
// strings, numbers (int or float64), booleans and null; anchors, aliases
// and merge keys (<<) work, and a timestamp stays a string. Every error
// matches [ErrConfig] and names the file, the line, the session and the
// key; a file that cannot be read returns the error of os.ReadFile.
//
// The sessions' keys are checked by [New], whose errors do not know the
// file; [NewFromFile] reads the file and calls New, and its errors name the
// file and the line of the key at fault as well.
func LoadConfigFile(path string) (Config, error) {
	fc, err := loadConfigFile(path)
	if err != nil {
		return Config{}, err
	}
	return fc.cfg, nil
}

// ParseConfig is [LoadConfigFile] for a file already read, such as one
// embedded with embed.FS: name is the file's name, whose extension picks
// the format and which errors name.
func ParseConfig(name string, data []byte) (Config, error) {
	fc, err := parseConfigFile(name, data)
	if err != nil {
		return Config{}, err
	}
	return fc.cfg, nil
}

// NewFromFile reads the configuration file at path as [LoadConfigFile]
// does and builds its [Manager] as [New] does, with cfg's Logger and
// Registry. cfg.Sessions must be empty; cfg.SecretKeys are used when the
// file names no secret_keys_env. Every error, including New's, names the
// file, the line, the session and the key:
//
//	sessionplus: sessions.yaml:12: session "data" (secure_cookie): unknown key "cookie_nmae" (this session_type takes no keys of its own)
func NewFromFile(ctx context.Context, path string, cfg Config) (*Manager, error) {
	if cfg.Sessions != nil {
		return nil, &configError{fmt.Sprintf("sessionplus: NewFromFile(%q): cfg.Sessions must be empty: the sessions come from the file", path)}
	}
	fc, err := loadConfigFile(path)
	if err != nil {
		return nil, err
	}
	if fc.cfg.SecretKeys != nil {
		if cfg.SecretKeys != nil {
			return nil, &configError{fmt.Sprintf("sessionplus: %s:%d: key %q: the secret keys come from both the file and cfg.SecretKeys; give them in one place", fc.name, fc.keysLine, fileKeySecretKeysEnv)}
		}
		cfg.SecretKeys = fc.cfg.SecretKeys
	}
	cfg.Sessions = fc.cfg.Sessions
	m, err := New(ctx, cfg)
	if err != nil {
		return nil, fc.locate(err)
	}
	return m, nil
}

// fileConfig is a parsed configuration file, with the positions that
// errors of New are mapped back to.
type fileConfig struct {
	name     string
	cfg      Config
	keysLine int // line of the top-level secret_keys_env
	sessions []fileSession
}

// fileSession is where one session is in the file.
type fileSession struct {
	label string         // as New's errors name it: session "x" or session #n
	line  int            // the line the session starts on
	keys  map[string]int // the line of each key of its Options
}

func loadConfigFile(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sessionplus: configuration file: %w", err)
	}
	return parseConfigFile(path, data)
}

func parseConfigFile(name string, data []byte) (*fileConfig, error) {
	var (
		root *node
		err  error
	)
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".json":
		root, err = parseJSON(data)
	case ".yaml", ".yml":
		root, err = parseYAML(data)
	default:
		return nil, &configError{fmt.Sprintf("sessionplus: %s: unknown configuration format %q: name the file .json, .yaml or .yml", name, ext)}
	}
	if err != nil {
		var pe *posError
		if errors.As(err, &pe) {
			return nil, &configError{fmt.Sprintf("sessionplus: %s:%s: %s", name, pe.pos, pe.msg)}
		}
		return nil, &configError{fmt.Sprintf("sessionplus: %s: %v", name, err)}
	}
	return buildFileConfig(name, root)
}

// buildFileConfig turns the parsed file into a Config.
func buildFileConfig(name string, root *node) (*fileConfig, error) {
	fc := &fileConfig{name: name}
	at := func(line int) string { return fmt.Sprintf("sessionplus: %s:%d: ", name, line) }
	if root.kind != mapNode {
		return nil, &configError{at(root.line) + fmt.Sprintf("expected an object with the keys %q and %q, got %s", fileKeySecretKeysEnv, fileKeySessions, root.describe())}
	}
	for _, k := range root.keys {
		if k != fileKeySecretKeysEnv && k != fileKeySessions {
			return nil, &configError{at(root.keyLine[k]) + fmt.Sprintf("unknown top-level key %q (known keys: %s, %s)", k, fileKeySecretKeysEnv, fileKeySessions)}
		}
	}
	if v, ok := root.kv[fileKeySecretKeysEnv]; ok {
		fc.keysLine = root.keyLine[fileKeySecretKeysEnv]
		keys, err := secretKeysFromEnv(v)
		if err != nil {
			return nil, &configError{at(v.line) + fmt.Sprintf("key %q: %v", fileKeySecretKeysEnv, err)}
		}
		fc.cfg.SecretKeys = keys
	}
	list, ok := root.kv[fileKeySessions]
	switch {
	case !ok:
		return nil, &configError{at(root.line) + fmt.Sprintf("key %q: required: the list of sessions", fileKeySessions)}
	case list.kind != seqNode:
		return nil, &configError{at(list.line) + fmt.Sprintf("key %q: expected a list of sessions, got %s", fileKeySessions, list.describe())}
	case len(list.items) == 0:
		return nil, &configError{at(list.line) + fmt.Sprintf("key %q: the list of sessions is empty", fileKeySessions)}
	}
	for i, item := range list.items {
		if item.kind != mapNode {
			return nil, &configError{at(item.line) + fmt.Sprintf("%s: expected an object of the session's keys, got %s", sessionLabel(i, ""), item.describe())}
		}
		opts, fs, err := buildFileSession(i, item)
		if err != nil {
			return nil, &configError{at(err.line) + err.msg}
		}
		fc.cfg.Sessions = append(fc.cfg.Sessions, opts)
		fc.sessions = append(fc.sessions, fs)
	}
	return fc, nil
}

// lineError is an error at a line of the file.
type lineError struct {
	line int
	msg  string
}

// buildFileSession turns one session of the file into its Options, reading
// the values that the file names environment variables for.
func buildFileSession(i int, n *node) (Options, fileSession, *lineError) {
	name, _ := n.kv["cookie_name"].scalar().(string)
	if v, ok := n.kv["cookie_name_env"]; ok {
		if s, ok := v.scalar().(string); ok {
			name = os.Getenv(s)
		}
	}
	fs := fileSession{label: sessionLabel(i, name), line: n.line, keys: make(map[string]int, len(n.keys))}
	bad := func(key, format string, args ...any) *lineError {
		return &lineError{line: n.keyLine[key], msg: fmt.Sprintf("%s: key %q: %s", fs.label, key, fmt.Sprintf(format, args...))}
	}
	opts := make(Options, len(n.keys))
	for _, k := range n.keys {
		v := n.kv[k]
		switch {
		case k == "secret_keys":
			return nil, fs, bad(k, "secret keys never go in the file: name the environment variables that hold them in secret_keys_env")
		case k == "store" || k == "client":
			return nil, fs, bad(k, "a live %s cannot come from a file: configure the backend with its url, addrs, servers or project_id", k)
		case k == fileKeySecretKeysEnv:
			keys, err := secretKeysFromEnv(v)
			if err != nil {
				return nil, fs, bad(k, "%v", err)
			}
			opts["secret_keys"] = keys
			fs.keys["secret_keys"] = n.keyLine[k]
		case strings.HasSuffix(k, "_env") && len(k) > len("_env"):
			base := strings.TrimSuffix(k, "_env")
			if _, dup := n.kv[base]; dup {
				return nil, fs, bad(k, "%q is given too: give the value or the environment variable, not both", base)
			}
			env, ok := v.scalar().(string)
			if !ok {
				return nil, fs, bad(k, "expected the name of an environment variable, got %s", v.describe())
			}
			val, err := lookupEnv(env)
			if err != nil {
				return nil, fs, bad(k, "%v", err)
			}
			opts[base] = val
			fs.keys[base] = n.keyLine[k]
		default:
			opts[k] = v.plain()
		}
		fs.keys[k] = n.keyLine[k]
	}
	return opts, fs, nil
}

// lookupEnv returns the value of the environment variable name, which must
// be set and not empty.
func lookupEnv(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty environment variable name")
	}
	v, ok := os.LookupEnv(name)
	switch {
	case !ok:
		return "", fmt.Errorf("environment variable %q is not set", name)
	case v == "":
		return "", fmt.Errorf("environment variable %q is empty", name)
	}
	return v, nil
}

// secretKeysFromEnv reads the secret keys from the environment variables
// that n names: a list of names, or one name.
func secretKeysFromEnv(n *node) ([][]byte, error) {
	var names []string
	switch n.kind {
	case scalarNode:
		s, ok := n.value.(string)
		if !ok {
			return nil, fmt.Errorf("expected a list of environment variable names, got %s", n.describe())
		}
		names = []string{s}
	case seqNode:
		for j, item := range n.items {
			s, ok := item.scalar().(string)
			if !ok {
				return nil, fmt.Errorf("element %d: expected the name of an environment variable, got %s", j, item.describe())
			}
			names = append(names, s)
		}
	default:
		return nil, fmt.Errorf("expected a list of environment variable names, got %s", n.describe())
	}
	if len(names) == 0 {
		return nil, errors.New("empty list: name at least one environment variable")
	}
	keys := make([][]byte, 0, len(names))
	for i, name := range names {
		if i > 0 && name != "" && os.Getenv(name) == "" {
			continue // an older key for rotation, not (or no longer) set
		}
		v, err := lookupEnv(name)
		if err != nil {
			return nil, err
		}
		if len(v) < MinSecretKeyLen {
			return nil, fmt.Errorf("environment variable %q holds %d bytes; secret keys must be at least %d bytes of random data", name, len(v), MinSecretKeyLen)
		}
		keys = append(keys, []byte(v))
	}
	return keys, nil
}

// keyInError finds the first key an error of New names.
var keyInError = regexp.MustCompile(`key "([^"]+)"`)

// locate adds the file, and the line of the session or key at fault, to an
// error of New.
func (fc *fileConfig) locate(err error) error {
	msg := err.Error()
	loc := fc.name
	found := -1
	for i, s := range fc.sessions {
		if strings.Contains(msg, s.label+":") || strings.Contains(msg, s.label+" (") {
			if found >= 0 { // two sessions of one name: no line
				found = -1
				break
			}
			found = i
		}
	}
	if found >= 0 {
		s := fc.sessions[found]
		line := s.line
		if m := keyInError.FindStringSubmatch(msg); m != nil {
			if l, ok := s.keys[m[1]]; ok {
				line = l
			}
		}
		loc = fmt.Sprintf("%s:%d", fc.name, line)
	}
	return withContext(loc, err)
}
