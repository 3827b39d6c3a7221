package sessionplus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the common options, as in flask-session-plus.
const (
	DefaultSessionType       = "secure_cookie"
	DefaultLifetime          = 24 * time.Hour
	DefaultPermanentLifetime = 31 * 24 * time.Hour
	DefaultKeyPrefix         = "session"
	DefaultCookiePath        = "/"
)

// Config configures a [Manager].
type Config struct {
	// Sessions lists the sessions, one Options map each, in order: a field
	// owned by several sessions is read from the first. Required.
	Sessions []Options

	// SecretKeys sign and encrypt cookies, newest first: the first key signs
	// and encrypts, all of them are tried when reading, so keys rotate by
	// adding a new key in front and dropping the oldest later. Each must be
	// at least MinSecretKeyLen bytes of random data. A session can override
	// them with its own secret_keys. Required when a session is a
	// secure_cookie session or uses use_signer.
	SecretKeys [][]byte

	// Logger receives the library's log records. It never receives session
	// ids or values. Default slog.Default().
	Logger *slog.Logger

	// Registry is where session_type names are looked up. Default
	// DefaultRegistry, which holds the drivers that registered from init.
	Registry *Registry

	// UserField names the field that identifies the logged-in user, such
	// as "user_id". With it set, every server-side record of a browser
	// whose session holds that field is indexed under the user in its own
	// backend, so that [Manager.UserSessions] lists a user's sessions and
	// [Manager.RevokeUser] ends them all ("log out everywhere"). Its value
	// must be a string or an integer. A server-side session must own it,
	// and each server-side session's driver must support the index (see
	// [UserIndex]). Default "": no index.
	UserField string

	// TracerProvider, when set, gets a span for every backend operation
	// (load, save, delete, keep-alive). Default nil: no tracing, at no
	// cost.
	TracerProvider trace.TracerProvider

	// MeterProvider, when set, gets the library's metrics: operations,
	// errors and their latency by session and kind, sessions created and
	// ended. Default nil: no metrics, at no cost.
	MeterProvider metric.MeterProvider
}

// sessionConf is one validated session of the configuration.
type sessionConf struct {
	name, typ string
	fields    fieldSpec
	store     Store
	client    bool // the store keeps the record in the cookie
	owned     bool // the store was opened by a driver, so Close closes it

	domain, path      string
	httpOnly, secure  bool
	maxAge            time.Duration // 0: a browser-session cookie
	sameSite          http.SameSite
	lifetime, permLtm time.Duration
	absolute          time.Duration // 0: no absolute lifetime
	keyPrefix         string
	hashIDs           bool
	tokenHeader       string    // token_header, canonical; "" for none
	signKeys          [][]byte  // derived keys of use_signer; nil without it
	attrs             string    // the Set-Cookie attributes after the value: "; Path=/; HttpOnly; SameSite=Lax"
	index             UserIndex // the store, when it indexes users and Config.UserField is set; else nil

	// spans and metrics (telemetry.go); nil without a TracerProvider or MeterProvider
	tel *telemetry
}

// cookieAttrs returns the attributes every Set-Cookie line of the session
// carries after its value and expiry.
func (c *sessionConf) cookieAttrs() string {
	var b strings.Builder
	b.WriteString("; Path=" + c.path)
	if c.domain != "" {
		b.WriteString("; Domain=" + strings.TrimPrefix(c.domain, "."))
	}
	if c.httpOnly {
		b.WriteString("; HttpOnly")
	}
	if c.secure {
		b.WriteString("; Secure")
	}
	switch c.sameSite {
	case http.SameSiteLaxMode:
		b.WriteString("; SameSite=Lax")
	case http.SameSiteStrictMode:
		b.WriteString("; SameSite=Strict")
	case http.SameSiteNoneMode:
		b.WriteString("; SameSite=None")
	}
	return b.String()
}

// lifetimeOf returns the lifetime of a session that is permanent or not.
func (c *sessionConf) lifetimeOf(permanent bool) time.Duration {
	if permanent {
		return c.permLtm
	}
	return c.lifetime
}

// deadline returns the expiry of a session with the given terms saved at
// now: its idle lifetime from now, but never past its absolute lifetime
// from created.
func (c *sessionConf) deadline(permanent bool, created, now time.Time) time.Time {
	d := now.Add(c.lifetimeOf(permanent))
	if c.absolute > 0 {
		if end := created.Add(c.absolute); end.Before(d) {
			return end
		}
	}
	return d
}

// nextDue returns when the keep-alive of a session saved at now until
// deadline is due: a keep-alive interval later, or at the deadline when the
// absolute lifetime capped it (a keep-alive could not move it).
func (c *sessionConf) nextDue(permanent bool, deadline, now time.Time) time.Time {
	lt := c.lifetimeOf(permanent)
	if deadline.Before(now.Add(lt)) {
		return deadline
	}
	return now.Add(keepAliveInterval(lt))
}

// naturalEnd returns when the record of a server-side session with the
// terms and due time of idc would have expired had no other request ended
// it: a lifetime after its last save, or at its absolute deadline.
func (c *sessionConf) naturalEnd(idc idCookie) time.Time {
	lt := c.lifetimeOf(idc.permanent)
	saved := idc.due.Add(-keepAliveInterval(lt))
	return c.deadline(idc.permanent, idc.created, saved)
}

// keepAliveInterval is how long after a save or keep-alive the next
// keep-alive of an unchanged session is due: a tenth of its lifetime, at
// most an hour. A session therefore lives between 90% and 100% of its
// lifetime after the last request that used it.
func keepAliveInterval(lifetime time.Duration) time.Duration {
	return min(lifetime/10, time.Hour)
}

// commonOptions are the keys the root package reads from every session.
type commonOptions struct {
	CookieName        string         `mapstructure:"cookie_name"`
	SessionType       string         `mapstructure:"session_type"`
	SessionFields     any            `mapstructure:"session_fields"`
	CookieDomain      string         `mapstructure:"cookie_domain"`
	CookiePath        string         `mapstructure:"cookie_path"`
	CookieHTTPOnly    *bool          `mapstructure:"cookie_httponly"`
	CookieSecure      bool           `mapstructure:"cookie_secure"`
	CookieMaxAge      *time.Duration `mapstructure:"cookie_max_age"`
	CookieSameSite    any            `mapstructure:"cookie_samesite"`
	Lifetime          *time.Duration `mapstructure:"session_lifetime"`
	PermanentLifetime *time.Duration `mapstructure:"session_permanent_lifetime"`
	AbsoluteLifetime  *time.Duration `mapstructure:"session_absolute_lifetime"`
	KeyPrefix         *string        `mapstructure:"key_prefix"`
	UseSigner         bool           `mapstructure:"use_signer"`
	HashIDs           *bool          `mapstructure:"hash_ids"`
	TokenHeader       string         `mapstructure:"token_header"`
	SecretKeys        any            `mapstructure:"secret_keys"`
	Store             any            `mapstructure:"store"`
}

// commonKeys are the keys of commonOptions; every other key is the driver's.
var commonKeys = structKeys(&commonOptions{})

// serverOnlyKeys apply only to server-side sessions.
var serverOnlyKeys = []string{"key_prefix", "use_signer", "hash_ids", "token_header"}

// configError is a configuration error; it matches ErrConfig.
type configError struct{ msg string }

func (e *configError) Error() string        { return e.msg }
func (e *configError) Is(target error) bool { return target == ErrConfig }

// ConfigErrorf formats a configuration error that matches [ErrConfig], for
// drivers that check their options beyond [DecodeOptions], such as
// ConfigErrorf(`key "url": %v`, err).
func ConfigErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// sessionLabel names a session in errors: its cookie name, or its position
// when it has none.
func sessionLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("session #%d", i+1)
	}
	return "session " + quote(name)
}

// buildSessions validates cfg and opens every session's store. On error,
// the stores opened so far are closed.
func buildSessions(ctx context.Context, cfg Config) ([]*sessionConf, router, error) {
	if len(cfg.Sessions) == 0 {
		return nil, router{}, &configError{"sessionplus: no sessions configured: Sessions is empty"}
	}
	reg := cfg.Registry
	if reg == nil {
		reg = DefaultRegistry
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if err := checkSecretKeys("SecretKeys", cfg.SecretKeys); err != nil {
		return nil, router{}, &configError{"sessionplus: " + err.Error()}
	}
	var (
		confs []*sessionConf
		specs []fieldSpec
		auto  = -1
	)
	fail := func(err error) ([]*sessionConf, router, error) {
		closeStores(confs)
		return nil, router{}, err
	}
	for i, opts := range cfg.Sessions {
		c, err := buildSession(ctx, i, opts, cfg.SecretKeys, reg, logger)
		if err != nil {
			return fail(err)
		}
		confs = append(confs, c)
		for _, prev := range confs[:len(confs)-1] {
			if prev.name == c.name {
				return fail(&configError{fmt.Sprintf("sessionplus: %s: key \"cookie_name\": duplicate cookie name: every session needs its own cookie", sessionLabel(i, c.name))})
			}
		}
		if c.fields.mode == fieldsAuto {
			if auto >= 0 {
				return fail(&configError{fmt.Sprintf("sessionplus: %s: key \"session_fields\": \"auto\" is already used by session %q; only one session can be \"auto\"", sessionLabel(i, c.name), confs[auto].name)})
			}
			auto = i
		}
		specs = append(specs, c.fields)
	}
	return confs, newRouter(specs), nil
}

// buildSession validates one session and opens its store.
func buildSession(ctx context.Context, i int, opts Options, globalKeys [][]byte, reg *Registry, logger *slog.Logger) (*sessionConf, error) {
	name, _ := opts["cookie_name"].(string)
	label := sessionLabel(i, name)
	bad := func(key, format string, args ...any) error {
		return &configError{fmt.Sprintf("sessionplus: %s: key %q: %s", label, key, fmt.Sprintf(format, args...))}
	}
	if opts == nil {
		return nil, &configError{fmt.Sprintf("sessionplus: %s: the session's Options map is nil", label)}
	}
	common := make(Options, len(commonKeys))
	driverOpts := make(Options, len(opts)+3)
	for k, v := range opts {
		if slices.Contains(commonKeys, k) {
			common[k] = v
		} else {
			driverOpts[k] = v
		}
	}
	var co commonOptions
	if err := DecodeOptions(common, &co); err != nil {
		return nil, withContext(label, err)
	}
	if _, ok := opts["cookie_name"]; !ok || co.CookieName == "" {
		return nil, bad("cookie_name", "required: the name of the session's cookie")
	}
	if !validCookieName(co.CookieName) {
		return nil, bad("cookie_name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~ only)", co.CookieName)
	}
	c := &sessionConf{
		name:      co.CookieName,
		typ:       co.SessionType,
		domain:    co.CookieDomain,
		path:      co.CookiePath,
		httpOnly:  true,
		secure:    co.CookieSecure,
		sameSite:  http.SameSiteLaxMode,
		lifetime:  DefaultLifetime,
		permLtm:   DefaultPermanentLifetime,
		keyPrefix: DefaultKeyPrefix,
		hashIDs:   true,
	}
	if c.typ == "" {
		if _, ok := co.Store.(Store); ok {
			c.typ = "custom"
		} else {
			c.typ = DefaultSessionType
		}
	}
	label = fmt.Sprintf("session %q (%s)", c.name, c.typ)
	var err error
	if c.fields, err = parseFields(co.SessionFields); err != nil {
		return nil, bad("session_fields", "%v", err)
	}
	if c.path == "" {
		c.path = DefaultCookiePath
	}
	if !strings.HasPrefix(c.path, "/") || strings.IndexFunc(c.path, func(r rune) bool { return r < 0x20 || r >= 0x7f || r == ';' }) >= 0 {
		return nil, bad("cookie_path", "expected a path starting with \"/\" of printable ASCII without \";\", got %q", c.path)
	}
	if c.domain != "" && !validDomain(strings.TrimPrefix(c.domain, ".")) {
		return nil, bad("cookie_domain", "%q is not a valid domain: expected labels of letters, digits and hyphens separated by dots, such as \"example.com\" (omit it for the host that set the cookie)", c.domain)
	}
	if co.CookieHTTPOnly != nil {
		c.httpOnly = *co.CookieHTTPOnly
	}
	if co.CookieMaxAge != nil {
		if *co.CookieMaxAge < time.Second {
			return nil, bad("cookie_max_age", "expected at least one second, got %v (omit it, or set nil, for a cookie that ends with the browser session)", *co.CookieMaxAge)
		}
		c.maxAge = *co.CookieMaxAge
	}
	if c.sameSite, err = parseSameSite(co.CookieSameSite); err != nil {
		return nil, bad("cookie_samesite", "%v", err)
	}
	if co.Lifetime != nil {
		if *co.Lifetime < time.Second {
			return nil, bad("session_lifetime", "expected at least one second, got %v", *co.Lifetime)
		}
		c.lifetime = *co.Lifetime
	}
	if co.PermanentLifetime != nil {
		if *co.PermanentLifetime < time.Second {
			return nil, bad("session_permanent_lifetime", "expected at least one second, got %v", *co.PermanentLifetime)
		}
		c.permLtm = *co.PermanentLifetime
	}
	if co.AbsoluteLifetime != nil {
		if *co.AbsoluteLifetime < time.Second {
			return nil, bad("session_absolute_lifetime", "expected at least one second, got %v (omit it for no absolute lifetime)", *co.AbsoluteLifetime)
		}
		c.absolute = *co.AbsoluteLifetime
	}
	if co.KeyPrefix != nil {
		if !validKeyPrefix(*co.KeyPrefix) {
			return nil, bad("key_prefix", "expected a non-empty prefix without spaces or control characters, got %q", *co.KeyPrefix)
		}
		c.keyPrefix = *co.KeyPrefix
	}
	if co.HashIDs != nil {
		c.hashIDs = *co.HashIDs
	}
	if _, ok := opts["token_header"]; ok {
		if !validCookieName(co.TokenHeader) {
			return nil, bad("token_header", "expected a header name such as \"Authorization\" or \"X-Session-Token\", got %q", co.TokenHeader)
		}
		c.tokenHeader = textproto.CanonicalMIMEHeaderKey(co.TokenHeader)
		if strings.EqualFold(c.tokenHeader, "Cookie") || strings.EqualFold(c.tokenHeader, "Set-Cookie") {
			return nil, bad("token_header", "%q carries cookies; name a header of its own", co.TokenHeader)
		}
	}
	if c.sameSite == http.SameSiteNoneMode && !c.secure {
		return nil, bad("cookie_samesite", "\"None\" requires cookie_secure: true (browsers reject SameSite=None cookies that are not Secure)")
	}
	if strings.HasPrefix(c.name, "__Secure-") && !c.secure {
		return nil, bad("cookie_secure", "a cookie named with the __Secure- prefix requires cookie_secure: true")
	}
	if strings.HasPrefix(c.name, "__Host-") && (!c.secure || c.domain != "" || c.path != "/") {
		return nil, bad("cookie_name", "a cookie named with the __Host- prefix requires cookie_secure: true, cookie_path \"/\" and no cookie_domain")
	}
	keys := globalKeys
	if co.SecretKeys != nil {
		if keys, err = parseSecretKeys(co.SecretKeys); err != nil {
			return nil, bad("secret_keys", "%v", err)
		}
	}

	// The store: a live one under "store", or one the driver opens.
	if co.Store != nil {
		st, ok := co.Store.(Store)
		if !ok {
			return nil, bad("store", "expected a sessionplus.Store, got %T", co.Store)
		}
		if isNil(st) {
			return nil, bad("store", "got a nil %T: pass a store made by its driver's New", co.Store)
		}
		if len(driverOpts) > 0 {
			extra := make([]string, 0, len(driverOpts))
			for k := range driverOpts {
				extra = append(extra, k)
			}
			slices.Sort(extra)
			return nil, bad(extra[0], "unknown key: with a live \"store\" the session takes only the common keys (%s)", strings.Join(commonKeys, ", "))
		}
		c.store = st
	} else {
		d, err := reg.Lookup(c.typ)
		if err != nil {
			return nil, withContext(fmt.Sprintf("session %q: key \"session_type\"", c.name), err)
		}
		driverOpts[optCookieName] = c.name
		driverOpts[optSecretKeys] = keys
		driverOpts[optLogger] = logger
		st, err := d.Open(ctx, driverOpts)
		if err != nil {
			return nil, withContext(label, err)
		}
		if st == nil || isNil(st) {
			return nil, fmt.Errorf("sessionplus: %s: driver returned a nil Store", label)
		}
		c.store, c.owned = st, true
	}
	c.attrs = c.cookieAttrs()
	c.client = isClientSide(c.store)
	if kc, ok := c.store.(KeyPrefixChecker); ok && !c.client {
		if err := kc.CheckKeyPrefix(c.keyPrefix); err != nil {
			if c.owned {
				closeStore(c.store)
			}
			return nil, withContext(label, err)
		}
	}
	if c.client {
		for _, k := range serverOnlyKeys {
			if _, ok := opts[k]; ok {
				closeStore(c.store)
				return nil, bad(k, "applies only to server-side sessions; a %s session keeps its data in the cookie", c.typ)
			}
		}
		if len(keys) == 0 {
			closeStore(c.store)
			return nil, bad("secret_keys", "required: a %s session signs and encrypts its cookie; set Config.SecretKeys or the session's secret_keys", c.typ)
		}
	}
	if co.UseSigner {
		if len(keys) == 0 {
			closeStore(c.store)
			return nil, bad("use_signer", "requires secret keys: set Config.SecretKeys or the session's secret_keys")
		}
		for _, k := range keys {
			c.signKeys = append(c.signKeys, DeriveKey(k, "session id signer"))
		}
	}
	return c, nil
}

// checkSecretKeys checks that every key is long enough.
func checkSecretKeys(what string, keys [][]byte) error {
	for i, k := range keys {
		if len(k) < MinSecretKeyLen {
			return fmt.Errorf("%s[%d] is %d bytes; secret keys must be at least %d bytes of random data", what, i, len(k), MinSecretKeyLen)
		}
	}
	return nil
}

// parseSecretKeys accepts [][]byte, []string or []any of strings.
func parseSecretKeys(v any) ([][]byte, error) {
	var keys [][]byte
	switch v := v.(type) {
	case [][]byte:
		keys = v
	case []string:
		for _, s := range v {
			keys = append(keys, []byte(s))
		}
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("element %d: expected a string, got %s", i, describeValue(e))
			}
			keys = append(keys, []byte(s))
		}
	default:
		return nil, fmt.Errorf("expected a list of keys ([][]byte or []string), got %s", describeValue(v))
	}
	if len(keys) == 0 {
		return nil, errors.New("empty list: give at least one key, or omit secret_keys to use Config.SecretKeys")
	}
	if err := checkSecretKeys("secret_keys", keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// parseSameSite accepts "Lax", "Strict", "None" (any case) or an http.SameSite.
func parseSameSite(v any) (http.SameSite, error) {
	switch v := v.(type) {
	case nil:
		return http.SameSiteLaxMode, nil
	case http.SameSite:
		switch v {
		case http.SameSiteDefaultMode:
			return http.SameSiteLaxMode, nil
		case http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode:
			return v, nil
		}
		return 0, fmt.Errorf(`expected "Lax", "Strict" or "None" (or http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode), got http.SameSite(%d)`, int(v))
	case string:
		switch strings.ToLower(v) {
		case "lax", "":
			return http.SameSiteLaxMode, nil
		case "strict":
			return http.SameSiteStrictMode, nil
		case "none":
			return http.SameSiteNoneMode, nil
		}
		return 0, fmt.Errorf(`expected "Lax", "Strict" or "None", got string %q`, v)
	}
	return 0, fmt.Errorf(`expected "Lax", "Strict" or "None", got %s`, describeValue(v))
}

// validKeyPrefix reports whether p is a non-empty key prefix of printable
// characters without spaces.
func validKeyPrefix(p string) bool {
	if p == "" {
		return false
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// validDomain reports whether d is a host name: dot-separated labels of
// letters, digits and hyphens, none empty, none starting or ending with a
// hyphen.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isNil reports whether v is a nil pointer (or map, func, ...) inside a
// non-nil interface: a typed nil that would panic at the first request.
func isNil(v any) bool {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// validCookieName reports whether name is a token as RFC 6265 requires.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

func closeStore(st Store) error {
	if c, ok := st.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func closeStores(confs []*sessionConf) error {
	var errs []error
	for _, c := range confs {
		if !c.owned {
			continue
		}
		if err := closeStore(c.store); err != nil {
			errs = append(errs, fmt.Errorf("sessionplus: session %q (%s): close: %w", c.name, c.typ, err))
		}
	}
	return errors.Join(errs...)
}

// contextError adds context to an error once: "sessionplus: <context>: <err>",
// without repeating the "sessionplus: " prefix of err.
type contextError struct {
	msg string
	err error
}

func (e *contextError) Error() string { return e.msg }
func (e *contextError) Unwrap() error { return e.err }

func withContext(context string, err error) error {
	return &contextError{msg: "sessionplus: " + context + ": " + strings.TrimPrefix(err.Error(), "sessionplus: "), err: err}
}
