package sessionplus

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UserIndex is an optional interface of a server-side [Store] that indexes
// its records by user, so that an application can list and end every
// session of one user (see [Config.UserField], [Manager.UserSessions],
// [Manager.RevokeUser]). drivertest checks it for every store that
// implements it.
//
// A store that implements it keeps the index true whatever happens to a
// record: [Update.User] and [Update.SetUser] say which user a Create or a
// Write leaves the record with; a Touch keeps the record's user, and keeps
// its index entry for as long as the record lives; a Delete, an expiry or
// an eviction removes it from the index. The index never lists a record
// that is no longer stored, and never grows without bound: entries of
// records that are gone go with the backend's own expiry or with a bounded
// sweep.
type UserIndex interface {
	// UserRecords returns every live record indexed under user, each with
	// its token, in no particular order; none (and a nil error) for a user
	// without records. A record past its expiry must not be returned (the
	// root package checks again). A store that serves several sessions
	// may return the records of all of them: the root package keeps those
	// whose token begins with the session's key_prefix and ":". Before the
	// first call, a store that implements [KeyPrefixChecker] has been told
	// every key_prefix it serves.
	UserRecords(ctx context.Context, user string) ([]UserRecord, error)
}

// UserRecord is one record of a user, as [UserIndex.UserRecords] returns it.
type UserRecord struct {
	Token  string // the storage key the record is saved under
	Record Record
}

// UserSession is one live server-side session of a user, as
// [Manager.UserSessions] lists it.
type UserSession struct {
	// Session is the cookie name of the configured session that holds it.
	Session string
	// Handle names the session for [Manager.RevokeSession]. It is opaque,
	// safe to show in a page, and useless as a cookie or a token.
	Handle string
	// Created is when the browser's session began (or moved to a new id at
	// login).
	Created time.Time
	// LastSeen is the last save or keep-alive of the session, at
	// keep-alive granularity; for a session whose absolute lifetime caps
	// its expiry, the last keep-alive before the cap at the earliest.
	LastSeen time.Time
	// Expiry is when the session ends unless it is used again.
	Expiry time.Time
}

// ErrNoUserIndex is wrapped by the error of [Manager.UserSessions],
// [Manager.RevokeUser], [Manager.RevokeSession] and [Session.RevokeOthers]
// for a server-side session whose store does not implement [UserIndex]:
// its sessions cannot be listed or revoked by user.
var ErrNoUserIndex = errors.New("sessionplus: the session's store keeps no index of users")

// reservedMeta is the field under which an indexed server-side record keeps
// the terms of its lifetime, for listing it: the permanent flag and the
// creation time, "<p|s><base 36 Unix seconds>".
const reservedMeta = "\x00meta"

// userKey returns the user key of an encoded value of the user field; ok
// is false for a value that is not a user (see userKeyOf).
func userKey(b []byte) (key string, ok bool) {
	v, err := decodeAny(b)
	if err != nil {
		return "", false
	}
	return userKeyOf(v)
}

// userKeyOf returns the user key of v: a non-empty string itself, an
// integer in decimal. ok is false for any other value, also for a type
// of the user's own over a string or an integer (it is stored as JSON, so
// it would not read back as what it was).
func userKeyOf(v any) (key string, ok bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Type().Name() != rv.Kind().String() {
		return "", false
	}
	switch {
	case rv.Kind() == reflect.String:
		return rv.String(), rv.Len() > 0
	case rv.CanInt():
		return strconv.FormatInt(rv.Int(), 10), true
	case rv.CanUint() && rv.Kind() != reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), true
	}
	return "", false
}

// checkUserValue returns the error of setting the user field to v.
func checkUserValue(field string, v any) error {
	if _, ok := userKeyOf(v); ok {
		return nil
	}
	if s, isString := v.(string); isString && s == "" {
		return fmt.Errorf("sessionplus: field %q is the user field (Config.UserField): its value must not be empty; Delete the field to log the user out", field)
	}
	return fmt.Errorf("sessionplus: field %q is the user field (Config.UserField): its value must be a string or an integer, got %T", field, v)
}

// encodeMeta returns the value of reservedMeta for the terms of idc.
func encodeMeta(permanent bool, created time.Time) []byte {
	b := make([]byte, 0, 8)
	if permanent {
		b = append(b, 'p')
	} else {
		b = append(b, 's')
	}
	return strconv.AppendInt(b, created.Unix(), 36)
}

// decodeMeta parses a value of reservedMeta.
func decodeMeta(b []byte) (permanent bool, created time.Time, ok bool) {
	if len(b) < 2 || (b[0] != 'p' && b[0] != 's') {
		return false, time.Time{}, false
	}
	created, ok = parseUnix36(string(b[1:]))
	return b[0] == 'p', created, ok
}

// users is what a save of a request needs to know of the user field: who
// the user is after the request, whether that is known (the session that
// owns the field was read), and whether this request changed it.
type users struct {
	key     string
	known   bool
	changed bool
}

// usersAtSave works out the request's user before its parts are saved. The
// first session that owns the user field is read only when a part is about
// to be written whole (a new record must be indexed at once); otherwise a
// request that does not touch the user field costs nothing more. The
// caller holds s.mu.
func (s *Session) usersAtSave(now time.Time) users {
	m := s.m
	if m.userField == "" {
		return users{}
	}
	owner := s.parts[m.userOwner]
	need := false
	for _, p := range s.parts {
		if p.conf.index != nil && p.creates() {
			need = true
		}
	}
	fresh := false
	if owner.state == unread {
		if !need {
			return users{}
		}
		owner.read(s.ctx)
		fresh = true
	}
	if owner.state != ready {
		return users{} // its read failed: nothing of it is written
	}
	key, _ := userKey(owner.values[m.userField])
	u := users{key: key, known: true, changed: key != owner.userIn}
	c := owner.conf
	if need && key != "" && !fresh && !u.changed && !c.client && owner.exists && !owner.changed() {
		// The user was read earlier in the request: a new record is only
		// indexed under them if their session was not ended meanwhile
		// (RevokeUser, a log-out elsewhere).
		if _, err := c.load(s.ctx, owner.storageKey(), now); errors.Is(err, ErrNotFound) {
			u.key = ""
		} else if err != nil {
			u.known = false
		}
	}
	return u
}

// creates reports whether saving p may write its record whole, under a new
// id: a new session, Regenerate, or a change of its permanence.
func (p *Part) creates() bool {
	if p.conf.client || p.state == failed {
		return false
	}
	return p.moving() || (p.changed() && len(p.values) > 0 && (p.newID || !p.exists))
}

// UserSessions returns every live server-side session of user, on every
// configured server-side session, oldest first. user is the value of the
// user field (see [Config.UserField]): the string, or the integer in
// decimal.
func (m *Manager) UserSessions(ctx context.Context, user string) ([]UserSession, error) {
	lists, err := m.listUser(ctx, "UserSessions", user)
	now := m.now()
	var out []UserSession
	for i, recs := range lists {
		c := m.confs[i]
		for _, r := range recs {
			if !r.Record.Expiry.After(now) {
				continue
			}
			us := UserSession{Session: c.name, Handle: handle(i, user, r.Token), Expiry: r.Record.Expiry}
			perm, created, ok := decodeMeta(r.Record.Values[reservedMeta])
			if ok {
				us.Created = created
			}
			us.LastSeen = r.Record.Expiry.Add(-c.lifetimeOf(perm))
			if us.LastSeen.Before(us.Created) {
				us.LastSeen = us.Created
			}
			if us.LastSeen.After(now) {
				us.LastSeen = now
			}
			out = append(out, us)
		}
	}
	slices.SortFunc(out, func(a, b UserSession) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Session, b.Session), strings.Compare(a.Handle, b.Handle))
	})
	return out, err
}

// RevokeUser ends every server-side session of user ("log out
// everywhere"): it deletes their records on every configured server-side
// session and returns how many it deleted. The next request of each of
// those browsers starts a fresh session, also a request that was in flight
// meanwhile (its changes are dropped, see [Store]). A session that the
// user's login creates while RevokeUser runs may survive it: call it again
// after the login, or make the login wait.
//
// A secure_cookie session cannot be revoked by the server: the fields that
// confer authority, such as the user field, belong in a server-side
// session.
func (m *Manager) RevokeUser(ctx context.Context, user string) (int, error) {
	return m.revoke(ctx, "RevokeUser", user, nil, "")
}

// RevokeSession ends the one session of a user that handle names (a
// [UserSession.Handle]: "sign out that device"). It returns an error
// wrapping [ErrNotFound] if no live session has that handle.
func (m *Manager) RevokeSession(ctx context.Context, handle string) error {
	i, user, digest, ok := parseHandle(handle, len(m.confs))
	if !ok {
		return fmt.Errorf("sessionplus: RevokeSession: malformed handle %q", handle)
	}
	if m.userField == "" {
		return errNoUserField("RevokeSession")
	}
	c := m.confs[i]
	recs, err := c.listUser(ctx, user)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if handleDigest(r.Token) == digest {
			if err := c.del(ctx, r.Token); err != nil {
				if errors.Is(err, ErrNotFound) {
					break
				}
				return &StoreError{Session: c.name, Type: c.typ, Op: "delete", Err: err}
			}
			return nil
		}
	}
	return fmt.Errorf("%w: RevokeSession: no live session has this handle", ErrNotFound)
}

// RevokeOthers ends every server-side session of the logged-in user but
// this browser's own (after a password change, say) and returns how many
// it ended. It returns an error when no user is logged in (the user field
// is not set), and an error wrapping [ErrNotFound], ending nothing, when
// this browser's own session is no longer among the user's: a parallel
// request revoked it or logged it out after this request read it, so a
// device signed out from elsewhere cannot sign out the others in turn.
func (s *Session) RevokeOthers() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	m := s.m
	if m.userField == "" {
		return 0, errNoUserField("RevokeOthers")
	}
	owner := s.parts[m.userOwner]
	if owner.read(s.ctx); owner.state == failed {
		return 0, owner.loadErr
	}
	user, ok := userKey(owner.values[m.userField])
	if !ok {
		return 0, fmt.Errorf("sessionplus: RevokeOthers: no user is logged in (field %q is not set)", m.userField)
	}
	keep := make(map[string]bool, len(s.parts))
	for _, p := range s.parts {
		if !p.conf.client && p.idOK {
			keep[p.storageKey()] = true
		}
	}
	// A user read from this browser's stored record must still be the
	// user's when the others are listed; one this request logged in has
	// no record to be revoked yet.
	self := ""
	if owner.exists && user == owner.userIn {
		self = owner.storageKey()
	}
	return m.revoke(s.ctx, "RevokeOthers", user, keep, self)
}

// Holds reports whether us is one of this browser's own sessions: a
// "your sessions" page marks it "this device", and a request that signs
// out another device checks first that the handle it was sent is in the
// list of the logged-in user and not its own.
func (s *Session) Holds(us UserSession) bool {
	i, _, digest, ok := parseHandle(us.Handle, len(s.m.confs))
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parts {
		if p.conf == s.m.confs[i] && !p.conf.client && p.idOK && handleDigest(p.storageKey()) == digest {
			return true
		}
	}
	return false
}

// revoke deletes the records of user but those in keep.
func (m *Manager) revoke(ctx context.Context, op, user string, keep map[string]bool, self string) (int, error) {
	lists, err := m.listUser(ctx, op, user)
	if self != "" && !slices.ContainsFunc(lists[m.userOwner], func(r UserRecord) bool { return r.Token == self }) {
		if err != nil {
			return 0, err // the listing failed: nothing tells whether this browser is still the user's
		}
		return 0, fmt.Errorf("%w: %s: this browser's session was ended meanwhile (revoked or logged out); nothing was revoked", ErrNotFound, op)
	}
	errs := []error{err}
	n := 0
	for i, recs := range lists {
		c := m.confs[i]
		for _, r := range recs {
			if keep[r.Token] {
				continue
			}
			switch err := c.del(ctx, r.Token); {
			case err == nil:
				n++
			case !errors.Is(err, ErrNotFound):
				errs = append(errs, &StoreError{Session: c.name, Type: c.typ, Op: "delete", Err: err})
			}
		}
	}
	return n, errors.Join(errs...)
}

// listUser returns the records of user on every server-side session, by
// session index, asking the backends concurrently.
func (m *Manager) listUser(ctx context.Context, op, user string) ([][]UserRecord, error) {
	if m.userField == "" {
		return nil, errNoUserField(op)
	}
	if user == "" {
		return nil, fmt.Errorf("sessionplus: %s: the user is empty", op)
	}
	lists := make([][]UserRecord, len(m.confs))
	errs := make([]error, len(m.confs))
	var wg sync.WaitGroup
	for i, c := range m.confs {
		if c.client {
			continue
		}
		wg.Go(func() { lists[i], errs[i] = c.listUser(ctx, user) })
	}
	wg.Wait()
	return lists, errors.Join(errs...)
}

// listUser calls the session's index under the generic rules of the other
// store calls (see load).
func (c *sessionConf) listUser(ctx context.Context, user string) (_ []UserRecord, err error) {
	if c.index == nil {
		return nil, fmt.Errorf("%w: session %q (%s)", ErrNoUserIndex, c.name, c.typ)
	}
	if c.tel != nil {
		var op telSpan
		ctx, op = c.tel.begin(ctx, opList, false)
		defer func() { op.end(ctx, err) }()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	recs, err := c.index.UserRecords(ctx, user)
	if err != nil {
		return nil, &StoreError{Session: c.name, Type: c.typ, Op: "list", Err: err}
	}
	// One store may serve several sessions (passed as "store"), each under
	// its own key_prefix: keep this session's records only. What follows
	// the prefix and its ":" never holds a ":" (see storageKey), so the
	// records of a session whose prefix is this one's and more ("a:b"
	// after "a") are not this session's.
	return slices.DeleteFunc(recs, func(r UserRecord) bool {
		rest, ok := strings.CutPrefix(r.Token, c.keyPrefix+":")
		return !ok || strings.Contains(rest, ":")
	}), nil
}

func errNoUserField(op string) error {
	return ConfigErrorf("sessionplus: %s: Config.UserField is not set, so no session is indexed by user", op)
}

// A handle is "<session index>.<user, base64url>.<digest of the storage
// key>": it names one record of one user without holding anything that
// would load it (with hash_ids off a storage key holds the id itself).
func handle(i int, user, token string) string {
	return strconv.Itoa(i) + "." + base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + handleDigest(token)
}

func handleDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func parseHandle(h string, n int) (i int, user, digest string, ok bool) {
	is, rest, ok1 := strings.Cut(h, ".")
	us, digest, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || len(digest) != 22 {
		return 0, "", "", false
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= n {
		return 0, "", "", false
	}
	u, err := base64.RawURLEncoding.Strict().DecodeString(us)
	if err != nil || len(u) == 0 {
		return 0, "", "", false
	}
	return i, string(u), digest, true
}
