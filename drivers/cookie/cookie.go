package cookie

import (
	"context"
	"errors"
	"fmt"

	"github.com/gorilla/securecookie"

	"github.com/sessionplus/sessionplus"
)

// Name is the session_type under which the driver registers.
const Name = "secure_cookie"

// Purposes of the keys derived from each secret with [sessionplus.DeriveKey].
// Changing either invalidates every cookie issued before.
const (
	hashPurpose  = "secure_cookie hash"
	blockPurpose = "secure_cookie block"
)

func init() { sessionplus.Register(Name, Driver{}) }

// Driver opens secure_cookie stores. It is registered under [Name].
type Driver struct{}

// options holds the driver-specific keys of a secure_cookie session. There
// are none: the store is built from the cookie name and secret keys that the
// root package sets, and any other key is rejected.
type options struct{}

// Open returns a [Store] for the cookie name and secret keys of cfg. An
// unknown key is an error wrapping [sessionplus.ErrConfig] that names it.
func (Driver) Open(_ context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var o options
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	st, err := New(cfg.Name, cfg.SecretKeys)
	if err != nil {
		return nil, err // not a typed nil *Store in a non-nil Store
	}
	return st, nil
}

// Store keeps a whole session record in its cookie: the value it returns
// from Save is the cookie value, signed and encrypted, and Load reads the
// record back from that value. It is safe for concurrent use. Make one with
// [New] or [Driver.Open]; the zero value is not usable.
type Store struct {
	name   string
	codecs []securecookie.Codec
}

var (
	_ sessionplus.Store      = (*Store)(nil)
	_ sessionplus.ClientSide = (*Store)(nil)
)

var errPartialUpdate = errors.New("cookie: the secure_cookie store takes whole records (Update.Kind must be sessionplus.Create)")

// New returns a store for the cookie cookieName, which the MAC binds: a
// value issued for one cookie does not load as another. secretKeys are raw
// secrets, newest first, each at least [sessionplus.MinSecretKeyLen] bytes.
// Save uses the first; Load accepts a value made with any of them, so a new
// key can be put in front and an old one dropped later. The errors wrap
// [sessionplus.ErrConfig].
func New(cookieName string, secretKeys [][]byte) (*Store, error) {
	if cookieName == "" {
		return nil, sessionplus.ConfigErrorf("cookie: empty cookie name")
	}
	if len(secretKeys) == 0 {
		return nil, sessionplus.ConfigErrorf(`cookie: key "secret_keys": required: no secret keys (set the SecretKeys of the middleware Config or the session's secret_keys)`)
	}
	pairs := make([][]byte, 0, 2*len(secretKeys))
	for i, k := range secretKeys {
		if len(k) < sessionplus.MinSecretKeyLen {
			return nil, sessionplus.ConfigErrorf("cookie: secret key %d is %d bytes, need at least %d",
				i, len(k), sessionplus.MinSecretKeyLen)
		}
		pairs = append(pairs, sessionplus.DeriveKey(k, hashPurpose), sessionplus.DeriveKey(k, blockPurpose))
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		sc := c.(*securecookie.SecureCookie)
		// The record carries its own authenticated expiry, and Save checks
		// the cookie size itself to return ErrCookieTooLarge.
		sc.SetSerializer(securecookie.NopEncoder{}).MaxAge(0).MaxLength(0)
	}
	return &Store{name: cookieName, codecs: codecs}, nil
}

// ClientSide reports true: the record travels in the cookie.
func (*Store) ClientSide() bool { return true }

// Load decodes the record from the cookie value token. A value that is
// too long, does not verify under any of the keys, or does not decode gives
// an error wrapping [sessionplus.ErrNotFound]. The root package checks the
// record's expiry.
func (s *Store) Load(_ context.Context, token string) (sessionplus.Record, error) {
	if len(token) > sessionplus.MaxCookieSize {
		return sessionplus.Record{}, fmt.Errorf("cookie: %w: value of %d bytes is over the limit of %d",
			sessionplus.ErrNotFound, len(token), sessionplus.MaxCookieSize)
	}
	var payload []byte
	if err := securecookie.DecodeMulti(s.name, token, &payload, s.codecs...); err != nil {
		return sessionplus.Record{}, fmt.Errorf("cookie: %w: %v", sessionplus.ErrNotFound, err)
	}
	rec, err := sessionplus.UnmarshalRecord(payload)
	if err != nil {
		return sessionplus.Record{}, fmt.Errorf("cookie: %w", err)
	}
	return rec, nil
}

// Save encodes the whole record u.Set with u.Expiry and returns the cookie
// value. u.Kind must be [sessionplus.Create]. If the cookie, name and value, would be
// over [sessionplus.MaxCookieSize] bytes, Save returns an error wrapping
// [sessionplus.ErrCookieTooLarge] and no value. token is not used.
func (s *Store) Save(_ context.Context, _ string, u sessionplus.Update) (string, error) {
	if u.Kind != sessionplus.Create {
		return "", errPartialUpdate
	}
	payload := sessionplus.MarshalRecord(sessionplus.Record{Values: u.Set, Expiry: u.Expiry})
	// Only the newest key encodes: EncodeMulti would fall back to an older
	// key if the newest failed, issuing cookies under a key being retired.
	value, err := s.codecs[0].Encode(s.name, payload)
	if err != nil {
		return "", fmt.Errorf("cookie: encode: %w", err)
	}
	if size := len(s.name) + 1 + len(value); size > sessionplus.MaxCookieSize {
		return "", fmt.Errorf("cookie: %w: %d bytes with its name, over the limit of %d (store less in this session or use a server-side session_type)",
			sessionplus.ErrCookieTooLarge, size, sessionplus.MaxCookieSize)
	}
	return value, nil
}

// Delete returns nil: the store keeps nothing, and the root package ends a
// secure_cookie session by expiring its cookie. A value the browser still
// holds stays valid until the expiry inside it.
func (*Store) Delete(context.Context, string) error { return nil }
