package sessionplus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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

// sessionLabel names a session in errors: its cookie name, or its position
// when it has none.
func sessionLabel(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("session #%d", i+1)
	}
	return "session " + quote(name)
}

// Building the sessions takes three steps, so that every mistake in the
// configuration is reported, all at once, before any backend is contacted:
//
//  1. parseSession checks each session on its own: every common key, and
//     the driver's keys through a dry Open (see [DriverConfig.Decode]);
//  2. checkAcross checks the rules between sessions: cookie names, "auto",
//     Config.UserField;
//  3. openStores opens the backends, only if there was no mistake.

// plan is one session after step 1: its configuration, and what opening
// its store takes.
type plan struct {
	conf       *sessionConf
	opts       Options      // the caller's map, never modified
	driver     Driver       // nil with a live store
	driverCfg  DriverConfig // what Open gets: the driver's keys, and the root package's inputs
	keys       [][]byte     // the session's secret keys
	useSigner  bool
	keysFailed bool // secret_keys was given but is wrong, already reported
	fieldsOK   bool // session_fields parsed
}

// built is the outcome of buildSessions.
type built struct {
	confs     []*sessionConf
	router    router
	userField string
	userOwner int // the first session that owns userField
}

// buildSessions validates cfg and opens every session's store. Its error
// is a *ConfigError, or an errors.Join of every mistake found, in session
// order; it then has opened nothing, or closed what it opened.
func buildSessions(ctx context.Context, cfg Config) (built, error) {
	if len(cfg.Sessions) == 0 {
		return built{}, &ConfigError{Msg: "sessionplus: no sessions configured: Sessions is empty"}
	}
	reg := cfg.Registry
	if reg == nil {
		reg = DefaultRegistry
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var errs []*ConfigError
	if err := checkSecretKeys("SecretKeys", cfg.SecretKeys); err != nil {
		errs = append(errs, &ConfigError{Msg: "sessionplus: " + err.Error()})
	}
	plans := make([]*plan, len(cfg.Sessions))
	for i, opts := range cfg.Sessions {
		var perrs []*ConfigError
		plans[i], perrs = parseSession(i, opts, cfg.SecretKeys, reg, logger)
		errs = append(errs, perrs...)
	}
	b, cerrs := checkAcross(plans, cfg.UserField)
	errs = append(errs, cerrs...)
	if len(errs) > 0 {
		return built{}, joinConfigErrors(errs)
	}
	if err := openStores(ctx, plans); err != nil {
		return built{}, err
	}
	// What a store says of itself settles what step 2 assumed.
	if _, cerrs := checkAcross(plans, cfg.UserField); len(cerrs) > 0 {
		closeStores(b.confs)
		return built{}, joinConfigErrors(cerrs)
	}
	return b, nil
}

// joinConfigErrors returns the one error, or an errors.Join of them in
// session order (the errors of no session first).
func joinConfigErrors(errs []*ConfigError) error {
	slices.SortStableFunc(errs, func(a, b *ConfigError) int { return a.Session - b.Session })
	if len(errs) == 1 {
		return errs[0]
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// canceled is the context of a dry Open: done already, so that a driver
// that does not stop at Decode still gives up before it dials.
var canceled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// parseSession is step 1 for the session at index i: it decodes every
// common key on its own, checks the values and, through a dry Open, the
// driver's keys. It opens nothing.
func parseSession(i int, opts Options, globalKeys [][]byte, reg *Registry, logger *slog.Logger) (*plan, []*ConfigError) {
	name, _ := opts["cookie_name"].(string)
	var errs []*ConfigError
	typ := "" // the session_type, in errors once it is known
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Session: i + 1, Name: name, Type: typ, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if opts == nil {
		errs = append(errs, &ConfigError{Session: i + 1, Msg: "the session's Options map is nil"})
		return nil, errs
	}
	common := make(Options, len(commonKeys))
	driverOpts := make(Options, len(opts))
	for k, v := range opts {
		if slices.Contains(commonKeys, k) {
			common[k] = v
		} else {
			driverOpts[k] = v
		}
	}
	// Each key on its own, so that one mistake does not hide the next.
	var co commonOptions
	failed := map[string]bool{}
	for _, k := range commonKeys {
		v, ok := common[k]
		if !ok {
			continue
		}
		if err := decodeOptions(Options{k: v}, &co); err != nil {
			failed[k] = true
			ce := asConfigError(err)
			ce.Session, ce.Name = i+1, name
			if ce.Key == "" {
				ce.Key = k
			}
			errs = append(errs, ce)
		}
	}
	if _, ok := opts["cookie_name"]; !ok || (co.CookieName == "" && !failed["cookie_name"]) {
		bad("cookie_name", "required: the name of the session's cookie")
	} else if !failed["cookie_name"] && !validCookieName(co.CookieName) {
		bad("cookie_name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~ only)", co.CookieName)
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
	if c.typ == "" && !failed["session_type"] {
		if _, ok := co.Store.(Store); ok {
			c.typ = "custom"
		} else {
			c.typ = DefaultSessionType
		}
	}
	typ = c.typ
	p := &plan{conf: c, opts: opts, driverCfg: DriverConfig{Options: driverOpts, Name: c.name, Logger: logger}, useSigner: co.UseSigner, keysFailed: failed["secret_keys"]}
	var err error
	if !failed["session_fields"] {
		if c.fields, err = parseFields(co.SessionFields); err != nil {
			bad("session_fields", "%v", err)
		} else {
			p.fieldsOK = true
		}
	}
	if c.path == "" {
		c.path = DefaultCookiePath
	}
	if !strings.HasPrefix(c.path, "/") || strings.IndexFunc(c.path, func(r rune) bool { return r < 0x20 || r >= 0x7f || r == ';' }) >= 0 {
		bad("cookie_path", "expected a path starting with \"/\" of printable ASCII without \";\", got %q", c.path)
	}
	if c.domain != "" && !validDomain(strings.TrimPrefix(c.domain, ".")) {
		bad("cookie_domain", "%q is not a valid domain: expected labels of letters, digits and hyphens separated by dots, such as \"example.com\" (omit it for the host that set the cookie)", c.domain)
	}
	if co.CookieHTTPOnly != nil {
		c.httpOnly = *co.CookieHTTPOnly
	}
	if co.CookieMaxAge != nil {
		if *co.CookieMaxAge < time.Second {
			bad("cookie_max_age", "expected at least one second, got %v (omit it, or set nil, for a cookie that ends with the browser session)", *co.CookieMaxAge)
		}
		c.maxAge = *co.CookieMaxAge
	}
	if !failed["cookie_samesite"] {
		if c.sameSite, err = parseSameSite(co.CookieSameSite); err != nil {
			bad("cookie_samesite", "%v", err)
		}
	}
	lifetime := func(key string, v *time.Duration, dst *time.Duration, hint string) {
		if v == nil {
			return
		}
		if *v < time.Second {
			bad(key, "expected at least one second, got %v%s", *v, hint)
		}
		*dst = *v
	}
	lifetime("session_lifetime", co.Lifetime, &c.lifetime, "")
	lifetime("session_permanent_lifetime", co.PermanentLifetime, &c.permLtm, "")
	lifetime("session_absolute_lifetime", co.AbsoluteLifetime, &c.absolute, " (omit it for no absolute lifetime)")
	if co.KeyPrefix != nil {
		if !validKeyPrefix(*co.KeyPrefix) {
			bad("key_prefix", "expected a non-empty prefix without spaces or control characters, got %q", *co.KeyPrefix)
		}
		c.keyPrefix = *co.KeyPrefix
	}
	if co.HashIDs != nil {
		c.hashIDs = *co.HashIDs
	}
	if _, ok := opts["token_header"]; ok && !failed["token_header"] {
		c.tokenHeader = textproto.CanonicalMIMEHeaderKey(co.TokenHeader)
		switch {
		case !validCookieName(co.TokenHeader):
			bad("token_header", "expected a header name such as \"Authorization\" or \"X-Session-Token\", got %q", co.TokenHeader)
		case strings.EqualFold(c.tokenHeader, "Cookie") || strings.EqualFold(c.tokenHeader, "Set-Cookie"):
			bad("token_header", "%q carries cookies; name a header of its own", co.TokenHeader)
		}
	}
	if c.sameSite == http.SameSiteNoneMode && !c.secure {
		bad("cookie_samesite", "\"None\" requires cookie_secure: true (browsers reject SameSite=None cookies that are not Secure)")
	}
	if strings.HasPrefix(c.name, "__Secure-") && !c.secure {
		bad("cookie_secure", "a cookie named with the __Secure- prefix requires cookie_secure: true")
	}
	if strings.HasPrefix(c.name, "__Host-") && (!c.secure || c.domain != "" || c.path != "/") {
		bad("cookie_name", "a cookie named with the __Host- prefix requires cookie_secure: true, cookie_path \"/\" and no cookie_domain")
	}
	p.keys = globalKeys
	if co.SecretKeys != nil {
		if p.keys, err = parseSecretKeys(co.SecretKeys); err != nil {
			bad("secret_keys", "%v", err)
			p.keysFailed = true
		}
	}

	if !failed["store"] && !failed["session_type"] {
		errs = append(errs, p.checkStore(i, co.Store, reg, logger)...)
	}
	errs = append(errs, checkClientSide(i, p)...)
	return p, errs
}

// checkStore checks the session's store: a live one under "store", which
// takes no driver keys, or the driver of its session_type, whose keys a
// dry Open checks.
func (p *plan) checkStore(i int, store any, reg *Registry, logger *slog.Logger) []*ConfigError {
	c := p.conf
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Session: i + 1, Name: c.name, Type: c.typ, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if store != nil {
		st, ok := store.(Store)
		switch {
		case !ok:
			bad("store", "expected a sessionplus.Store, got %T", store)
		case isNil(st):
			bad("store", "got a nil %T: pass a store made by its driver's New", store)
		default:
			c.store = st
			c.client = isClientSide(st)
		}
		for _, k := range slices.Sorted(maps.Keys(p.driverCfg.Options)) {
			errs = append(errs, unknownKey(i, c.name, c.typ, k, commonKeys, "with a live \"store\" the session takes only the common keys"))
		}
		return errs
	}
	d, err := reg.Lookup(c.typ)
	if err != nil {
		return append(errs, &ConfigError{Session: i + 1, Name: c.name, Key: "session_type",
			Msg: strings.TrimPrefix(err.Error(), "sessionplus: "), Err: err})
	}
	p.driver = d
	// The built-in cookie driver keeps the record in the cookie; what the
	// store opened in step 3 says settles it.
	c.client = c.typ == DefaultSessionType
	p.driverCfg.SecretKeys = p.keys
	dry := &dryRun{}
	dryCfg := p.driverCfg
	dryCfg.dry = dry
	st, err := d.Open(canceled, dryCfg)
	if st != nil && !isNil(st) {
		closeStore(st) // a driver that opened without contacting anything
	}
	switch {
	case dry.called:
		valid := slices.Collect(maps.Keys(dry.keys))
		for _, k := range commonKeys {
			if !c.client || !slices.Contains(serverOnlyKeys, k) {
				valid = append(valid, k)
			}
		}
		slices.Sort(valid)
		for _, k := range dry.unknown {
			errs = append(errs, unknownKey(i, c.name, c.typ, k, valid, ""))
		}
		for _, ce := range dry.errs {
			ce.Session, ce.Name, ce.Type = i+1, c.name, c.typ
			errs = append(errs, ce)
		}
	case err != nil && errors.Is(err, ErrConfig):
		ce := asConfigError(err)
		ce.Session, ce.Name, ce.Type = i+1, c.name, c.typ
		errs = append(errs, ce)
	}
	return errs
}

// checkClientSide checks the rules that depend on where the session keeps
// its record.
func checkClientSide(i int, p *plan) []*ConfigError {
	c := p.conf
	var errs []*ConfigError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Session: i + 1, Name: c.name, Type: c.typ, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.client {
		for _, k := range serverOnlyKeys {
			if _, ok := p.opts[k]; ok {
				bad(k, "applies only to server-side sessions; a %s session keeps its data in the cookie", c.typ)
			}
		}
		if len(p.keys) == 0 && !p.keysFailed {
			bad("secret_keys", "required: a %s session signs and encrypts its cookie; set Config.SecretKeys or the session's secret_keys", c.typ)
		}
	}
	if p.useSigner && len(p.keys) == 0 && !p.keysFailed && !c.client {
		bad("use_signer", "requires secret keys: set Config.SecretKeys or the session's secret_keys")
	}
	return errs
}

// unknownKey is the error for key k, which the session does not take: it
// lists the keys it takes and names the closest.
func unknownKey(i int, name, typ, k string, valid []string, why string) *ConfigError {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown key %q (", k)
	if best := closest(k, valid); best != "" {
		fmt.Fprintf(&b, "did you mean %q? ", best)
	}
	if why != "" {
		b.WriteString(why + ": ")
	} else if typ != "" {
		fmt.Fprintf(&b, "a %s session takes: ", typ)
	} else {
		b.WriteString("valid keys: ")
	}
	b.WriteString(strings.Join(valid, ", ") + ")")
	return &ConfigError{Session: i + 1, Name: name, Type: typ, Key: k, Msg: b.String(), bare: true}
}

// asConfigError returns the *ConfigError in err's chain, or one made of err.
func asConfigError(err error) *ConfigError {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	return &ConfigError{Msg: strings.TrimPrefix(err.Error(), "sessionplus: "), Err: err}
}

// checkAcross is step 2: the rules between sessions. It returns the
// sessions and their router even when it finds mistakes.
func checkAcross(plans []*plan, userField string) (built, []*ConfigError) {
	var (
		b     built
		errs  []*ConfigError
		specs []fieldSpec
		auto  = -1
		first = map[string]int{} // the first session of each cookie name
	)
	fieldsOK := true
	for i, p := range plans {
		if p == nil {
			fieldsOK = false
			specs = append(specs, fieldSpec{mode: fieldsInclude})
			continue
		}
		c := p.conf
		b.confs = append(b.confs, c)
		if c.name != "" {
			if j, dup := first[c.name]; dup {
				errs = append(errs, &ConfigError{Session: i + 1, Name: c.name, Type: c.typ, Key: "cookie_name",
					Msg: fmt.Sprintf("duplicate cookie name: #%d %q and #%d %q: every session needs its own cookie", j+1, c.name, i+1, c.name)})
			} else {
				first[c.name] = i
			}
		}
		if !p.fieldsOK {
			fieldsOK = false
			specs = append(specs, fieldSpec{mode: fieldsInclude})
			continue
		}
		if c.fields.mode == fieldsAuto {
			if auto >= 0 {
				errs = append(errs, &ConfigError{Session: i + 1, Name: c.name, Type: c.typ, Key: "session_fields",
					Msg: fmt.Sprintf("\"auto\" is already used by session %q (#%d); only one session can be \"auto\"", plans[auto].conf.name, auto+1)})
			} else {
				auto = i
			}
		}
		specs = append(specs, c.fields)
	}
	b.router = newRouter(specs)
	if userField == "" {
		return b, errs
	}
	if err := checkFieldName(userField); err != nil {
		return b, append(errs, &ConfigError{Msg: fmt.Sprintf("sessionplus: UserField: %v", err)})
	}
	if !fieldsOK || len(b.confs) != len(plans) {
		return b, errs // not known who owns it
	}
	owner, server := -1, false
	for i, c := range b.confs {
		if !b.router.owns(i, userField) {
			continue
		}
		if owner < 0 {
			owner = i
		}
		server = server || !c.client
	}
	if !server {
		return b, append(errs, &ConfigError{Msg: fmt.Sprintf("sessionplus: UserField %q: no server-side session owns it; a secure_cookie session cannot be revoked by the server, so the user field must be in a server-side session's session_fields", userField)})
	}
	b.userField, b.userOwner = userField, owner
	return b, errs
}

// openStores is step 3: it opens the store of every session whose driver
// opens one. On error it closes the stores it opened, and only those: a
// store passed in under "store" stays open.
func openStores(ctx context.Context, plans []*plan) (err error) {
	var opened []*sessionConf
	defer func() {
		if err != nil {
			closeStores(opened)
		}
	}()
	for i, p := range plans {
		c := p.conf
		if p.driver != nil {
			st, err := p.driver.Open(ctx, p.driverCfg)
			if err != nil {
				if errors.Is(err, ErrConfig) {
					ce := asConfigError(err)
					ce.Session, ce.Name, ce.Type = i+1, c.name, c.typ
					return ce
				}
				return &sessionError{session: i + 1, name: c.name, typ: c.typ, err: err}
			}
			if st == nil || isNil(st) {
				return &sessionError{session: i + 1, name: c.name, typ: c.typ, err: errors.New("driver returned a nil Store")}
			}
			c.store, c.owned = st, true
			opened = append(opened, c)
			if client := isClientSide(st); client != c.client {
				c.client = client
				if errs := checkClientSide(i, p); len(errs) > 0 {
					return joinConfigErrors(errs)
				}
			}
		}
		if kc, ok := c.store.(KeyPrefixChecker); ok && !c.client {
			if err := kc.CheckKeyPrefix(c.keyPrefix); err != nil {
				ce := asConfigError(err)
				ce.Session, ce.Name, ce.Type = i+1, c.name, c.typ
				return ce
			}
		}
		c.attrs = c.cookieAttrs()
		if p.useSigner {
			c.signKeys = c.signKeys[:0]
			for _, k := range p.keys {
				c.signKeys = append(c.signKeys, DeriveKey(k, "session id signer"))
			}
		}
	}
	return nil
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
