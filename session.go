package sessionplus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Session is the combined session of one request: every configured session
// behind one set of fields, each field routed to the sessions that own it.
// Get it from the middleware (multisession.Get in Echo) or from
// [Manager.Begin]. It is safe for concurrent use by the handler's goroutines.
//
// Every read can fail: a backend that is down returns an error, never an
// empty session. A session whose read failed is never written back in this
// request, so a failure cannot wipe what a user has stored.
type Session struct {
	m   *Manager
	ctx context.Context
	// detached is ctx without its cancellation, for encoding client-side
	// sessions at save; made on first use.
	detached context.Context
	header   http.Header
	err      error // set for a session that is Unavailable

	mu      sync.Mutex
	parts   []*Part
	perm    *bool // set by SetPermanent
	inherit bool  // a session the browser holds is permanent (set at a save that starts a session)
	closed  bool
	final   error // the result of Commit
	users   users // the user field at the save in progress
}

type partState uint8

const (
	unread partState = iota // not read from the backend yet
	ready                   // values holds the whole session
	failed                  // the read failed: never written back
)

// Part is one configured session within a request, reached by its cookie
// name with [Session.Part]. Its methods see only the fields it owns.
type Part struct {
	s    *Session
	conf *sessionConf

	in     string   // the incoming cookie value, "" without one
	idc    idCookie // the parsed id cookie of a server-side session: id and terms
	idOK   bool     // idc is well-formed (under use_signer, signed) and within its absolute lifetime
	key    string   // the storage key of idc, once computed (see storageKey)
	token  string   // a client-side session's store value (in without the hint)
	hint   hint     // a client-side session's keep-alive hint
	hintOK bool     // the incoming cookie of a client-side session had a hint

	state     partState
	loadErr   error
	exists    bool // the backend holds the record (server) or the cookie decoded (client)
	found     bool // the record existed when read in this request (Clear does not reset it)
	values    map[string][]byte
	set       map[string]any // values set in this request, returned as they were given
	expiry    time.Time      // the expiry of the record read
	permanent bool           // a client-side record's permanent flag, as read or saved
	created   time.Time      // a client-side record's creation time, as read or saved

	dirty     map[string]bool // fields set or deleted in this request
	newID     bool            // the next save writes the whole record under a new id
	deleteOld bool            // the next save deletes the record of the incoming id
	carry     bool            // the next save copies the record read (Regenerate): void if it was ended meanwhile
	lost      bool            // a change was refused because the read failed
	perm      *bool           // set by Part.SetPermanent
	outLine   string          // the Set-Cookie line of the last save
	viaHeader bool            // the request carried the session in its token_header: answer there too
	outToken  *string         // the token to answer with by header; "" ends the session
	userIn    string          // the user key the first owner of the user field held when read
	reindex   bool            // the save moves the unchanged record to the index of another user
	indexedAs *string         // the user a save of this request indexed the record under (Part.Token's, before the final one)
}

// The fields under which a client-side record keeps its terms: its
// permanent flag and its creation time (decimal Unix seconds). Users cannot
// name a field with a NUL byte.
const (
	reservedPermanent = "\x00permanent"
	reservedCreated   = "\x00created"
)

// usable returns the error every method returns when the session cannot be
// used. The caller holds s.mu.
func (s *Session) usable() error {
	if s.err != nil {
		return s.err
	}
	return nil
}

func (s *Session) mutable() error {
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return ErrClosed
	}
	return nil
}

// read reads p from its backend if it has not been read. The caller holds
// s.mu; several parts may be read concurrently.
func (p *Part) read(ctx context.Context) {
	if p.state != unread {
		return
	}
	c := p.conf
	if p.in == "" || (!c.client && !p.idOK) {
		p.state, p.values = ready, map[string][]byte{}
		return
	}
	token := p.token
	if !c.client {
		token = p.storageKey()
	}
	now := p.s.m.now()
	rec, err := c.load(ctx, token, now)
	if err != nil && !errors.Is(err, ErrNotFound) {
		p.state = failed
		p.loadErr = &StoreError{Session: c.name, Type: c.typ, Op: "load", Err: err}
		// Once per request and session: a part is read at most once.
		p.s.m.logger.WarnContext(ctx, "sessionplus: reading the session failed",
			"session", c.name, "type", c.typ, "op", "load", "error", err.Error())
		return
	}
	p.state = ready
	if err == nil && c.client {
		err = p.takeTerms(rec.Values, now)
	}
	if err != nil {
		p.values = map[string][]byte{}
		return // unknown, expired or tampered: a new session, the id is never adopted
	}
	p.exists, p.found, p.expiry, p.values = true, true, rec.Expiry, rec.Values
	if p.values == nil {
		p.values = map[string][]byte{}
	}
	if m := p.s.m; m.userField != "" {
		delete(p.values, reservedMeta)
		if p == p.s.parts[m.userOwner] {
			p.userIn, _ = userKey(p.values[m.userField])
		}
	}
}

// storageKey returns the storage key of the id cookie p holds.
func (p *Part) storageKey() string {
	if p.key == "" {
		p.key = storageKey(p.conf.keyPrefix, p.idc, p.conf.hashIDs)
	}
	return p.key
}

// takeTerms takes a client-side record's terms out of its values. A record
// past its absolute lifetime is not found; so is one without a creation
// time (written by an older version) when an absolute lifetime is set.
func (p *Part) takeTerms(values map[string][]byte, now time.Time) error {
	perm, ok := values[reservedPermanent]
	p.permanent = ok && len(perm) == 1 && perm[0] == 1
	created, err := strconv.ParseInt(string(values[reservedCreated]), 10, 64)
	delete(values, reservedPermanent)
	delete(values, reservedCreated)
	switch {
	case err == nil:
		p.created = time.Unix(created, 0)
	case p.conf.absolute > 0:
		return fmt.Errorf("%w (no creation time)", ErrNotFound)
	default:
		p.created = unixSec(now)
	}
	if a := p.conf.absolute; a > 0 && !now.Before(p.created.Add(a)) {
		return fmt.Errorf("%w (past its absolute lifetime)", ErrNotFound)
	}
	return nil
}

// readAll reads the given parts, those of server-side sessions concurrently.
// It returns the joined errors of the parts whose read failed.
func (s *Session) readAll(parts []*Part) error {
	pending := 0
	for _, p := range parts {
		if p.state == unread && !p.conf.client && p.idOK {
			pending++
		}
	}
	if pending > 1 {
		s.readConcurrently(parts)
	}
	var errs []error
	for _, p := range parts {
		p.read(s.ctx) // a no-op for the parts read concurrently
		if p.state == failed {
			errs = append(errs, p.loadErr)
		}
	}
	return errors.Join(errs...)
}

// readConcurrently reads the unread server-side parts, each in its own
// goroutine.
func (s *Session) readConcurrently(parts []*Part) {
	var wg sync.WaitGroup
	for _, p := range parts {
		if p.state == unread && !p.conf.client && p.idOK {
			wg.Go(func() { p.read(s.ctx) })
		}
	}
	wg.Wait()
}

// ownersOf appends the parts that own field to buf.
func (s *Session) ownersOf(buf []*Part, field string) []*Part {
	for i, p := range s.parts {
		if s.m.router.owns(i, field) {
			buf = append(buf, p)
		}
	}
	return buf
}

// unowned is the error for a field no session owns.
func (s *Session) unowned(field string) error {
	var b strings.Builder
	for i, c := range s.m.confs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.name)
		switch c.fields.mode {
		case fieldsInclude:
			b.WriteString(" owns [" + strings.Join(c.fields.names, ", ") + "]")
		case fieldsExclude:
			b.WriteString(" owns all but [" + strings.Join(c.fields.names, ", ") + "]")
		}
	}
	return fmt.Errorf("%w: field %q (sessions: %s)", ErrUnownedField, field, b.String())
}

// Get returns the value of field, read from the first session that owns it.
// ok is false when the field is not set. A value set in this request is
// returned as it was given; a value read from a backend comes back as the
// type it was stored with for Go's basic types, []byte and time.Time, and as
// encoding/json decodes it into an any otherwise (use [GetAs] for structs).
func (s *Session) Get(field string) (value any, ok bool, err error) {
	return get(s, field)
}

// get reads field from r, decoding a stored value into the Go value it was
// stored from.
func get(r Reader, field string) (any, bool, error) {
	stored, v, ok, err := r.lookup(field)
	if err != nil || !ok || v != nil {
		return v, ok, err
	}
	v, err = decodeAny(stored)
	if err != nil {
		return nil, false, withContext(fmt.Sprintf("field %q", field), err)
	}
	return v, true, nil
}

// lookup returns field as stored, or as set in this request.
func (s *Session) lookup(field string) (stored []byte, v any, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, nil, false, err
	}
	i := s.m.router.first(field)
	if i < 0 {
		return nil, nil, false, nil
	}
	return s.parts[i].lookupLocked(field)
}

func (p *Part) lookupLocked(field string) ([]byte, any, bool, error) {
	if v, ok := p.set[field]; ok {
		return nil, v, true, nil
	}
	p.read(p.s.ctx)
	if p.state == failed {
		return nil, nil, false, p.loadErr
	}
	b, ok := p.values[field]
	return b, nil, ok, nil
}

// Reader is what [GetAs] reads from: a [*Session] or a [*Part].
type Reader interface {
	lookup(field string) (stored []byte, v any, ok bool, err error)
}

// GetAs returns the value of field as a T. A value set in this request is
// returned as given when it is a T. A stored value of a basic type, []byte
// or time.Time decodes only into exactly that type; any other value was
// stored as JSON and decodes into any T that encoding/json can fill, such as
// the struct it was stored from. No type registration is needed. The error
// for a value of another type wraps [ErrWrongType].
func GetAs[T any](r Reader, field string) (T, bool, error) {
	var zero T
	stored, v, ok, err := r.lookup(field)
	if err != nil || !ok {
		return zero, false, err
	}
	t, err := as[T](field, stored, v)
	if err != nil {
		return zero, false, err
	}
	return t, true, nil
}

// as returns a field's value as a T: v as given when it was set in this
// request, else the stored bytes decoded.
func as[T any](field string, stored []byte, v any) (T, error) {
	var t T
	if v != nil {
		if t, isT := v.(T); isT {
			return t, nil
		}
		var err error
		if stored, err = encodeValue(v); err != nil {
			return t, withContext(fmt.Sprintf("field %q", field), err)
		}
	}
	if err := decodeInto(stored, &t); err != nil {
		return t, withContext(fmt.Sprintf("field %q", field), err)
	}
	return t, nil
}

// Set sets field to value in every session that owns it. value is any Go
// value: basic types, []byte and time.Time are stored compactly, anything
// else as JSON. Setting a field that no session owns returns an error
// wrapping [ErrUnownedField]; nothing is silently dropped.
func (s *Session) Set(field string, value any) error {
	return s.update(field, value, nil)
}

// update sets field to value in every session that owns it, or, when flash
// is not nil, appends the encoded flash message to the list there: the rules
// of Set in one place.
func (s *Session) update(field string, value any, flash []byte) error {
	if err := checkFieldName(field); err != nil {
		return fmt.Errorf("sessionplus: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return err
	}
	var buf [8]*Part
	owners := s.ownersOf(buf[:0], field)
	if len(owners) == 0 {
		return s.unowned(field)
	}
	if flash != nil {
		list, _, err := s.flashesLocked(field)
		if err != nil {
			return err
		}
		value = append(list, flash)
	}
	return s.setLocked(owners, field, value)
}

func (s *Session) setLocked(owners []*Part, field string, value any) error {
	if field == s.m.userField {
		if err := checkUserValue(field, value); err != nil {
			return err
		}
	}
	b, err := encodeValue(value)
	if err != nil {
		return withContext(fmt.Sprintf("field %q", field), err)
	}
	if err := s.readForChange(owners); err != nil {
		return err
	}
	for _, p := range owners {
		p.values[field] = b
		if p.set == nil {
			p.set = make(map[string]any)
		}
		p.set[field] = value
		p.markDirty(field)
	}
	return nil
}

// readForChange reads the parts about to change. A changed server-side
// session must be read first: its id is only kept if the backend knows it.
// If a read fails, no part changes and the failed ones remember that a
// change was refused.
func (s *Session) readForChange(parts []*Part) error {
	if err := s.readAll(parts); err != nil {
		for _, p := range parts {
			if p.state == failed {
				p.lost = true
			}
		}
		return fmt.Errorf("%w: %w", ErrLoadFailed, err)
	}
	return nil
}

func (p *Part) markDirty(field string) {
	if p.dirty == nil {
		p.dirty = make(map[string]bool)
	}
	p.dirty[field] = true
}

// Delete removes field from every session that owns it. Deleting a field
// that is not set is not an error.
func (s *Session) Delete(field string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return err
	}
	var buf [8]*Part
	return s.deleteLocked(s.ownersOf(buf[:0], field), field)
}

func (s *Session) deleteLocked(owners []*Part, field string) error {
	if err := s.readForChange(owners); err != nil {
		return err
	}
	for _, p := range owners {
		if _, ok := p.values[field]; ok {
			delete(p.values, field)
			delete(p.set, field)
			p.markDirty(field)
		}
	}
	return nil
}

// Keys returns the fields set in the request's sessions, sorted. It reads
// every session that the request carries a cookie of, concurrently.
func (s *Session) Keys() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if err := s.readAll(s.parts); err != nil {
		return nil, err
	}
	var keys []string
	for i, p := range s.parts {
		for k := range p.values {
			if s.m.router.first(k) == i {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// Owners returns the cookie names of the sessions that own field, in config
// order; the first is the one it is read from. It is empty for a field that
// no session owns.
func (s *Session) Owners(field string) []string {
	if s.err != nil {
		return nil
	}
	var names []string
	for _, i := range s.m.router.owners(field) {
		names = append(names, s.m.confs[i].name)
	}
	return names
}

// Clear removes every field from every session. At save, each emptied
// session is deleted from its backend and its cookie expired; a field set
// after Clear starts a new session, with a new id.
func (s *Session) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return err
	}
	for _, p := range s.parts {
		p.clearLocked()
	}
	return nil
}

// Destroy ends every session of the request, as at log-out: it clears them
// (see [Session.Clear]) and drops the permanent mark. A server-side session
// is deleted from its backend, so a copy of its cookie loads nothing any
// more, also in a request already in flight. A secure_cookie session can
// only be expired in this browser: a copy of its cookie taken before stays
// valid until its own expiry.
func (s *Session) Destroy() error {
	if err := s.Clear(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := false
	s.perm = &f
	for _, p := range s.parts {
		p.perm = nil
	}
	return nil
}

func (p *Part) clearLocked() {
	p.deleteOld = p.deleteOld || p.idOK || p.exists
	p.state, p.loadErr, p.lost = ready, nil, false
	p.exists, p.newID, p.carry = false, true, false
	p.values, p.set = map[string][]byte{}, nil
	p.dirty = map[string]bool{}
}

// SetPermanent marks every session permanent (it then lasts
// session_permanent_lifetime, and its cookie outlives the browser session)
// or not permanent (session_lifetime, and a cookie that ends with the
// browser session unless cookie_max_age is set). Permanence is the
// server's decision alone: it is kept in the session's record (bound to its
// storage key, or inside the encrypted cookie), never taken from a cookie
// byte the browser could edit. A stored server-side session whose
// permanence changes moves to a new id at save, keeping its absolute
// deadline.
func (s *Session) SetPermanent(permanent bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return err
	}
	s.perm = &permanent
	return nil
}

// Permanent reports whether the sessions are permanent: as set in this
// request, or else whether a session the browser holds is permanent, as its
// record says (which may read it). A session the browser starts after the
// permanent mark was set (in this request or an earlier one) is permanent
// too.
func (s *Session) Permanent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perm != nil {
		return *s.perm
	}
	return s.inheritedLocked()
}

// Regenerate gives every server-side session a new id and deletes the
// records of the old ids when the session is saved. Call it when the user
// logs in, so that an id planted before the login is worthless after it
// (session fixation). It reads the sessions it moves, concurrently.
func (s *Session) Regenerate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return err
	}
	var server []*Part
	for _, p := range s.parts {
		if !p.conf.client {
			server = append(server, p)
		}
	}
	if err := s.readForChange(server); err != nil {
		return err
	}
	for _, p := range server {
		if p.exists {
			p.newID, p.deleteOld, p.carry = true, true, true
		}
	}
	return nil
}

// Part returns the configured session whose cookie is named name.
func (s *Session) Part(name string) (*Part, error) {
	if s.err != nil {
		return nil, s.err
	}
	for _, p := range s.parts {
		if p.conf.name == name {
			return p, nil
		}
	}
	names := make([]string, len(s.parts))
	for i, p := range s.parts {
		names[i] = p.conf.name
	}
	return nil, fmt.Errorf("sessionplus: no session with cookie name %q; configured: %s", name, strings.Join(names, ", "))
}

// Parts returns the request's sessions in config order.
func (s *Session) Parts() []*Part {
	return slices.Clone(s.parts)
}

// Name returns the session's cookie name.
func (p *Part) Name() string { return p.conf.name }

// Type returns the session's session_type.
func (p *Part) Type() string { return p.conf.typ }

// ClientSide reports whether the session's data travels in its cookie.
func (p *Part) ClientSide() bool { return p.conf.client }

// Owns reports whether the session owns field.
func (p *Part) Owns(field string) bool {
	return p.s.m.router.owns(slices.Index(p.s.parts, p), field)
}

func (p *Part) lookup(field string) ([]byte, any, bool, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if err := p.s.usable(); err != nil {
		return nil, nil, false, err
	}
	return p.lookupLocked(field)
}

// Get returns the value of field in this session; see [Session.Get].
func (p *Part) Get(field string) (any, bool, error) {
	return get(p, field)
}

// Set sets field in this session only. The session must own the field.
func (p *Part) Set(field string, value any) error {
	if err := checkFieldName(field); err != nil {
		return fmt.Errorf("sessionplus: %w", err)
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if err := p.s.mutable(); err != nil {
		return err
	}
	if !p.Owns(field) {
		return fmt.Errorf("%w: field %q is not owned by session %q", ErrUnownedField, field, p.conf.name)
	}
	return p.s.setLocked([]*Part{p}, field, value)
}

// Delete removes field from this session only.
func (p *Part) Delete(field string) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if err := p.s.mutable(); err != nil {
		return err
	}
	return p.s.deleteLocked([]*Part{p}, field)
}

// Clear removes every field of this session.
func (p *Part) Clear() error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if err := p.s.mutable(); err != nil {
		return err
	}
	p.clearLocked()
	return nil
}

// Keys returns the fields this session holds, sorted.
func (p *Part) Keys() ([]string, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if err := p.s.usable(); err != nil {
		return nil, err
	}
	p.read(p.s.ctx)
	if p.state == failed {
		return nil, p.loadErr
	}
	return slices.Sorted(maps.Keys(p.values)), nil
}

// Expiry returns when the session's stored record expires, as read from
// the backend (the zero time for a session that is not stored yet).
func (p *Part) Expiry() (time.Time, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if err := p.s.usable(); err != nil {
		return time.Time{}, err
	}
	p.read(p.s.ctx)
	if p.state == failed {
		return time.Time{}, p.loadErr
	}
	return p.expiry, nil
}

// Permanent reports whether this session is permanent: as set in this
// request, or as its stored record says (which may read it), or, for a
// session the browser does not hold, as the browser's other sessions say.
func (p *Part) Permanent() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if c := p.chosen(); c != nil {
		return *c
	}
	if p.held() {
		if p.conf.client {
			p.read(p.s.detachedCtx())
		} else {
			p.read(p.s.ctx)
		}
		if p.exists {
			return p.s.permanentOf(p)
		}
	}
	return p.s.inheritedLocked()
}

// SetPermanent marks this session alone permanent or not, as
// [Session.SetPermanent] does for all of them, and takes precedence over it:
// remember the user for session_permanent_lifetime while the CSRF cookie
// stays a browser-session cookie. A session the browser starts in a later
// request takes its permanence from one it holds, as in Flask.
func (p *Part) SetPermanent(permanent bool) error {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if err := p.s.mutable(); err != nil {
		return err
	}
	p.perm = &permanent
	return nil
}

// Token returns the token that stands for this server-side session, as a
// client sends it in the session's token_header (see the option): for a
// JSON login endpoint to put in its body. A session changed in this request
// is saved first, so that a new one has its id; Token then returns "" and
// nil if the session holds nothing. A secure_cookie session has no token.
func (p *Part) Token() (string, error) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return "", err
	}
	if p.conf.client {
		return "", fmt.Errorf("sessionplus: session %q (%s) keeps its data in its cookie and has no token", p.conf.name, p.conf.typ)
	}
	if p.changed() || p.moving() {
		now := s.m.now()
		s.inherit = s.startsNew() && s.inheritedLocked()
		// Who the user is, to index a new record under them; the final
		// save works it out again and moves the browser's other records.
		s.users = s.usersAtSave(now)
		o := p.commit(s.ctx, now)
		if o.err != nil {
			return "", o.err
		}
		if p.viaHeader {
			p.writeToken(s.header)
		} else if o.cookie != "" {
			p.writeCookie(s.header, o.cookie)
		}
	}
	if p.read(s.ctx); p.state == failed {
		return "", p.loadErr
	}
	if !p.exists || !p.idOK {
		return "", nil
	}
	return p.in, nil
}

// Fields describes the fields the session owns, as configured:
// "every field", "auto", "every field but a, b", or the list "a, b".
func (p *Part) Fields() string {
	f := p.conf.fields
	switch f.mode {
	case fieldsAll:
		return "every field"
	case fieldsAuto:
		return "auto"
	case fieldsExclude:
		return "every field but " + strings.Join(f.names, ", ")
	}
	return strings.Join(f.names, ", ")
}

// Cookie returns the attributes the session's cookie is sent with (its
// value left empty). MaxAge is set from cookie_max_age; the cookie of a
// permanent session is sent with an expiry at the session's deadline
// instead (see [Part.Permanent] and [Part.Expiry]).
func (p *Part) Cookie() http.Cookie {
	c := p.conf
	return http.Cookie{
		Name: c.name, Path: c.path, Domain: c.domain,
		HttpOnly: c.httpOnly, Secure: c.secure, SameSite: c.sameSite,
		MaxAge: int(c.maxAge / time.Second),
	}
}
