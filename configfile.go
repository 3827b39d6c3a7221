package sessionplus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Configuration files: the sessions as JSON or YAML, with the secret keys in
// environment variables that the file names.
//
//	secret_keys_env: [SESSION_KEY, SESSION_KEY_OLD]   # newest first
//	user_field: user_id                               # Config.UserField
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
	fileKeyUserField     = "user_field"
)

// LoadConfigFile reads the configuration of the sessions from a JSON
// (.json) or YAML (.yaml, .yml) file and returns the [Config] it describes:
// Sessions and SecretKeys; Logger and Registry are left for the caller.
//
// The file holds one object with these keys:
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
//   - user_field: the field that identifies the logged-in user
//     ([Config.UserField]), a string.
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
// file, the line, the session and the key; [ConfigError] holds them, and
// its Column too:
//
//	sessionplus: sessions.yaml:12: session "data" (secure_cookie): unknown key "cookie_nmae" (did you mean "cookie_name"? ...)
func NewFromFile(ctx context.Context, path string, cfg Config) (*Manager, error) {
	if cfg.Sessions != nil {
		return nil, &ConfigError{File: path, Msg: "NewFromFile: cfg.Sessions must be empty: the sessions come from the file"}
	}
	fc, err := loadConfigFile(path)
	if err != nil {
		return nil, err
	}
	if fc.cfg.SecretKeys != nil {
		if cfg.SecretKeys != nil {
			return nil, &ConfigError{File: fc.name, Line: fc.keysPos.line, Column: fc.keysPos.col, Key: fileKeySecretKeysEnv,
				Msg: "the secret keys come from both the file and cfg.SecretKeys; give them in one place"}
		}
		cfg.SecretKeys = fc.cfg.SecretKeys
	}
	if fc.cfg.UserField != "" {
		if cfg.UserField != "" && cfg.UserField != fc.cfg.UserField {
			return nil, &ConfigError{File: fc.name, Line: fc.userPos.line, Column: fc.userPos.col, Key: fileKeyUserField,
				Msg: fmt.Sprintf("the file's user_field %q and cfg.UserField %q differ; give it in one place", fc.cfg.UserField, cfg.UserField)}
		}
		cfg.UserField = fc.cfg.UserField
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
	keysPos  pos // of the top-level secret_keys_env
	userPos  pos // of the top-level user_field
	sessions []fileSession
}

// pos is a position in the file.
type pos struct{ line, col int }

// fileSession is where one session is in the file.
type fileSession struct {
	pos  pos            // where the session starts
	keys map[string]pos // where each key of its Options is
}

func loadConfigFile(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sessionplus: configuration file: %w", err)
	}
	return parseConfigFile(path, data)
}

// fileError is an error at a position of the file.
func fileError(name string, at *yaml.Node, format string, args ...any) *ConfigError {
	e := &ConfigError{File: name, Msg: fmt.Sprintf(format, args...)}
	if at != nil {
		e.Line, e.Column = at.Line, at.Column
	}
	return e
}

// parseConfigFile parses a JSON or YAML file with one parser, yaml.v3's
// Node, which knows the line and column of every key in both; a JSON file
// is first checked to be strict JSON.
func parseConfigFile(name string, data []byte) (*fileConfig, error) {
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".json":
		if err := checkJSON(name, data); err != nil {
			return nil, err
		}
		data = jsonForYAML(data)
	case ".yaml", ".yml":
	default:
		return nil, &ConfigError{File: name, Msg: fmt.Sprintf("unknown configuration format %q: name the file .json, .yaml or .yml", ext)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, &ConfigError{File: name, Msg: "the file is empty"}
		}
		return nil, yamlError(name, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return nil, yamlError(name, err)
		}
		return nil, fileError(name, &next, "a second YAML document: the file must hold one")
	}
	if len(doc.Content) == 0 {
		return nil, &ConfigError{File: name, Msg: "the file is empty"}
	}
	w := &walker{name: name}
	return w.config(doc.Content[0])
}

// checkJSON reports a syntax error, or data after the top-level value, at
// its line and column.
func checkJSON(name string, data []byte) error {
	at := func(off int64, format string, args ...any) error {
		off = min(max(off, 0), int64(len(data)))
		line := bytes.Count(data[:off], []byte("\n")) + 1
		col := int(off) - bytes.LastIndexByte(data[:off], '\n') - 1
		return &ConfigError{File: name, Line: line, Column: max(col, 1), Msg: fmt.Sprintf(format, args...), showColumn: true}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return at(max(se.Offset, 1), "JSON syntax error: %s", se.Error())
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			e := at(int64(len(data)), "JSON syntax error: unexpected end of file").(*ConfigError)
			e.Column, e.showColumn = 0, false
			return e
		}
		return &ConfigError{File: name, Msg: "JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		e := at(dec.InputOffset(), "unexpected data after the top-level object").(*ConfigError)
		e.Column, e.showColumn = 0, false
		return e
	}
	return nil
}

// jsonForYAML returns valid JSON data in the YAML that yaml.v3 reads as
// the same values, on the same lines: JSON is YAML but for tabs between
// tokens (made spaces) and the escapes YAML lacks, \/ and surrogate pairs
// (a string with an escape is written again as encoding/json writes it).
func jsonForYAML(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch c {
		case '\t':
			out = append(out, ' ')
			continue
		case '"':
		default:
			out = append(out, c)
			continue
		}
		j, escaped := i+1, false
		for ; j < len(data) && data[j] != '"'; j++ {
			if data[j] == '\\' {
				escaped = true
				j++
			}
		}
		tok := data[i : j+1]
		if escaped {
			var s string
			if json.Unmarshal(tok, &s) == nil {
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				if enc.Encode(s) == nil {
					tok = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
				}
			}
		}
		out = append(out, tok...)
		i = j
	}
	return out
}

// yamlError turns "yaml: line 3: msg" into an error at line 3.
func yamlError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, m, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				return &ConfigError{File: name, Line: line, Msg: "YAML syntax error: " + m}
			}
		}
	}
	return &ConfigError{File: name, Msg: "YAML syntax error: " + msg}
}

// maxYAMLNodes bounds the nodes that a YAML file's aliases can expand to.
const maxYAMLNodes = 100000

// walker turns the file's nodes into a Config.
type walker struct {
	name  string
	nodes int
}

// pair is one key of a mapping, with merge keys (<<) resolved.
type pair struct {
	key   string
	at    *yaml.Node // the key's node, for its position
	value *yaml.Node
}

func (w *walker) errorf(at *yaml.Node, format string, args ...any) *ConfigError {
	return fileError(w.name, at, format, args...)
}

// resolve follows aliases and counts the nodes, against a file whose
// aliases expand without bound.
func (w *walker) resolve(n *yaml.Node, depth int) (*yaml.Node, error) {
	w.nodes++
	if w.nodes > maxYAMLNodes || depth > 100 {
		return nil, w.errorf(n, "the document is too large or too deep once its aliases are expanded")
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n, nil
}

// pairs returns the keys of a mapping in file order: a key given twice is
// an error, and keys given in the mapping win over merged ones (<<), then
// the earlier merged mapping.
func (w *walker) pairs(n *yaml.Node, depth int) ([]pair, error) {
	var out []pair
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		kr := k
		if kr.Kind == yaml.AliasNode && kr.Alias != nil {
			kr = kr.Alias
		}
		if kr.Kind != yaml.ScalarNode {
			return nil, w.errorf(k, "a key must be a string, got %s", yamlDescribe(kr))
		}
		// A key is its text, as in JSON: null, true and 1 are the keys
		// "null", "true" and "1".
		if prev, dup := seen[kr.Value]; dup {
			return nil, w.errorf(k, "key %q is already defined at line %d", kr.Value, prev.Line)
		}
		seen[kr.Value] = k
		out = append(out, pair{key: kr.Value, at: k, value: v})
	}
	for _, m := range merges {
		m, err := w.resolve(m, depth+1)
		if err != nil {
			return nil, err
		}
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, src := range srcs {
			src, err := w.resolve(src, depth+1)
			if err != nil {
				return nil, err
			}
			if src.Kind != yaml.MappingNode {
				return nil, w.errorf(src, "a merge key (<<) takes a mapping or a list of mappings")
			}
			merged, err := w.pairs(src, depth+1)
			if err != nil {
				return nil, err
			}
			for _, p := range merged {
				if _, ok := seen[p.key]; !ok {
					seen[p.key] = p.at
					out = append(out, p)
				}
			}
		}
	}
	return out, nil
}

// plain returns the value n holds as encoding/json would decode it into an
// any, except that whole numbers are ints and a timestamp stays a string.
func (w *walker) plain(n *yaml.Node, depth int) (any, error) {
	n, err := w.resolve(n, depth)
	if err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps, err := w.pairs(n, depth+1)
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(ps))
		for _, p := range ps {
			if m[p.key], err = w.plain(p.value, depth+1); err != nil {
				return nil, err
			}
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, it := range n.Content {
			if l[i], err = w.plain(it, depth+1); err != nil {
				return nil, err
			}
		}
		return l, nil
	case yaml.ScalarNode:
		var v any
		switch tag := n.ShortTag(); tag {
		case "!!str", "!!timestamp":
			return n.Value, nil
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err, v = n.Decode(&b), b
		case "!!int":
			var i int64
			if err = n.Decode(&i); err == nil && (i > math.MaxInt || i < math.MinInt) {
				err = errors.New("out of range")
			}
			v = int(i)
		case "!!float":
			var f float64
			err = n.Decode(&f)
			v = f
		case "!!binary":
			var s string
			err = n.Decode(&s)
			v = s
		default:
			return nil, w.errorf(n, "unsupported YAML tag %s", tag)
		}
		if err != nil {
			return nil, w.errorf(n, "value %q: %v", n.Value, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return v, nil
	}
	return nil, w.errorf(n, "unexpected YAML node")
}

// describe names what n is, for errors.
func (w *walker) describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	v, err := w.plain(n, 0)
	if err != nil {
		return yamlDescribe(n)
	}
	return describeValue(v)
}

func yamlDescribe(y *yaml.Node) string {
	switch y.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%s %q", strings.TrimPrefix(y.ShortTag(), "!!"), y.Value)
}

// config turns the file's top-level node into a Config.
func (w *walker) config(root *yaml.Node) (*fileConfig, error) {
	fc := &fileConfig{name: w.name}
	root, err := w.resolve(root, 0)
	if err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, w.errorf(root, "expected an object with the keys %q and %q, got %s", fileKeySecretKeysEnv, fileKeySessions, w.describe(root))
	}
	ps, err := w.pairs(root, 0)
	if err != nil {
		return nil, err
	}
	var list *yaml.Node
	for _, p := range ps {
		switch p.key {
		case fileKeySecretKeysEnv:
			fc.keysPos = pos{p.at.Line, p.at.Column}
			keys, err := w.secretKeysFromEnv(p.value)
			if err != nil {
				return nil, &ConfigError{File: w.name, Line: p.value.Line, Column: p.value.Column, Key: p.key, Msg: err.Error()}
			}
			fc.cfg.SecretKeys = keys
		case fileKeySessions:
			if list, err = w.resolve(p.value, 1); err != nil {
				return nil, err
			}
		case fileKeyUserField:
			fc.userPos = pos{p.at.Line, p.at.Column}
			v, err := w.plain(p.value, 1)
			if err != nil {
				return nil, err
			}
			field, ok := v.(string)
			if !ok || field == "" {
				e := w.errorf(p.value, "expected the name of the field that identifies the logged-in user, got %s", w.describe(p.value))
				e.Key = p.key
				return nil, e
			}
			fc.cfg.UserField = field
		default:
			return nil, w.errorf(p.at, "unknown top-level key %q (known keys: %s, %s, %s)", p.key, fileKeySecretKeysEnv, fileKeySessions, fileKeyUserField)
		}
	}
	switch {
	case list == nil:
		e := w.errorf(root, "required: the list of sessions")
		e.Key = fileKeySessions
		return nil, e
	case list.Kind != yaml.SequenceNode:
		e := w.errorf(list, "expected a list of sessions, got %s", w.describe(list))
		e.Key = fileKeySessions
		return nil, e
	case len(list.Content) == 0:
		e := w.errorf(list, "the list of sessions is empty")
		e.Key = fileKeySessions
		return nil, e
	}
	for i, item := range list.Content {
		item, err := w.resolve(item, 1)
		if err != nil {
			return nil, err
		}
		if item.Kind != yaml.MappingNode {
			e := w.errorf(item, "expected an object of the session's keys, got %s", w.describe(item))
			e.Session = i + 1
			return nil, e
		}
		opts, fs, err := w.session(i, item)
		if err != nil {
			return nil, err
		}
		fc.cfg.Sessions = append(fc.cfg.Sessions, opts)
		fc.sessions = append(fc.sessions, fs)
	}
	return fc, nil
}

// session turns one session of the file into its Options, reading the
// values that the file names environment variables for.
func (w *walker) session(i int, n *yaml.Node) (Options, fileSession, error) {
	fs := fileSession{pos: pos{n.Line, n.Column}, keys: map[string]pos{}}
	ps, err := w.pairs(n, 1)
	if err != nil {
		return nil, fs, err
	}
	given := map[string]bool{}
	name := ""
	for _, p := range ps {
		given[p.key] = true
		v, _ := w.resolve(p.value, 2)
		switch {
		case p.key == "cookie_name" && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && name == "":
			name = v.Value
		case p.key == "cookie_name_env" && v.Kind == yaml.ScalarNode:
			name = os.Getenv(v.Value)
		}
	}
	bad := func(p pair, format string, args ...any) error {
		return &ConfigError{File: w.name, Line: p.at.Line, Column: p.at.Column, Session: i + 1, Name: name, Key: p.key, Msg: fmt.Sprintf(format, args...)}
	}
	opts := make(Options, len(ps))
	for _, p := range ps {
		at := pos{p.at.Line, p.at.Column}
		k := p.key
		switch {
		case k == "secret_keys":
			return nil, fs, bad(p, "secret keys never go in the file: name the environment variables that hold them in secret_keys_env")
		case k == "store" || k == "client":
			return nil, fs, bad(p, "a live %s cannot come from a file: configure the backend with its url, addrs, servers or project_id", k)
		case k == fileKeySecretKeysEnv:
			keys, err := w.secretKeysFromEnv(p.value)
			if err != nil {
				return nil, fs, bad(p, "%v", err)
			}
			opts["secret_keys"] = keys
			fs.keys["secret_keys"] = at
		case strings.HasSuffix(k, "_env") && len(k) > len("_env"):
			base := strings.TrimSuffix(k, "_env")
			if given[base] {
				return nil, fs, bad(p, "%q is given too: give the value or the environment variable, not both", base)
			}
			env, err := w.plain(p.value, 2)
			if err != nil {
				return nil, fs, err
			}
			s, ok := env.(string)
			if !ok {
				return nil, fs, bad(p, "expected the name of an environment variable, got %s", w.describe(p.value))
			}
			val, err := lookupEnv(s)
			if err != nil {
				return nil, fs, bad(p, "%v", err)
			}
			opts[base] = val
			fs.keys[base] = at
		default:
			if opts[k], err = w.plain(p.value, 2); err != nil {
				return nil, fs, err
			}
		}
		fs.keys[k] = at
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
func (w *walker) secretKeysFromEnv(n *yaml.Node) ([][]byte, error) {
	v, err := w.plain(n, 2)
	if err != nil {
		return nil, err
	}
	var names []string
	switch v := v.(type) {
	case string:
		names = []string{v}
	case []any:
		for j, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("element %d: expected the name of an environment variable, got %s", j, describeValue(item))
			}
			names = append(names, s)
		}
	default:
		d := describeValue(v)
		if _, ok := v.(map[string]any); ok {
			d = "an object"
		}
		return nil, fmt.Errorf("expected a list of environment variable names, got %s", d)
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

// locate adds the file, and the line and column of the key (or session)
// at fault, to every error of New; errors.Join keeps them in session order.
func (fc *fileConfig) locate(err error) error {
	found := false
	for _, ce := range configErrors(err) {
		found = true
		if ce.File != "" {
			continue
		}
		ce.File = fc.name
		if ce.Session < 1 || ce.Session > len(fc.sessions) {
			continue
		}
		s := fc.sessions[ce.Session-1]
		at, ok := s.keys[ce.Key]
		if !ok {
			at = s.pos
		}
		ce.Line, ce.Column = at.line, at.col
	}
	var se *sessionError
	if errors.As(err, &se) && se.file == "" {
		found = true
		se.file = fc.name
		if se.session >= 1 && se.session <= len(fc.sessions) {
			se.line = fc.sessions[se.session-1].pos.line
		}
	}
	if !found {
		return withContext(fc.name, err)
	}
	return err
}
