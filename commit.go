package sessionplus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// outcome is what saving one part decided: a cookie to send (or to expire),
// and the error of a failed save, in which case no cookie goes out.
type outcome struct {
	cookie string // a Set-Cookie line, "" for none
	err    error
}

// Save writes the sessions that changed in this request to their backends
// and puts their Set-Cookie lines in the response header. Unchanged sessions
// whose keep-alive is due are kept alive. A handler may call it to see the
// error; the middleware calls [Session.Commit] before the response headers
// go out. Save returns the joined [StoreError]s of the sessions that failed;
// no cookie is sent for a session whose save failed.
func (s *Session) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mutable(); err != nil {
		return err
	}
	return s.saveLocked()
}

// Commit is the final save of the request, made by the middleware just
// before the response headers are written. After it, changes to the session
// fail with [ErrClosed]. A second Commit returns the result of the first.
func (s *Session) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil
	}
	if s.closed {
		return s.final
	}
	s.final = s.saveLocked()
	s.closed = true
	return s.final
}

func (s *Session) saveLocked() error {
	now := s.m.now()
	s.inherit = s.startsNew() && s.inheritedLocked()
	var buf [8]outcome
	outs := buf[:0]
	if len(s.parts) > len(buf) {
		outs = make([]outcome, 0, len(s.parts))
	}
	outs = outs[:len(s.parts)]
	s.users = s.usersAtSave(now)
	busy := 0
	for _, p := range s.parts {
		// At a login or log-out, the browser's other records move to the
		// index of the new user too.
		p.reindex = p.movesIndex() && p.idOK && p.state != failed && !p.changed() && !p.moving()
		if !p.conf.client && p.needsIO(now) {
			busy++
		}
	}
	if busy > 1 {
		s.commitConcurrently(outs, now)
	} else {
		for i, p := range s.parts {
			outs[i] = p.commit(s.ctx, now)
		}
	}
	if s.users.known {
		s.parts[s.m.userOwner].userIn = s.users.key
	}
	var errs []error
	for i, o := range outs {
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		p := s.parts[i]
		switch {
		case p.viaHeader:
			p.writeToken(s.header)
		case o.cookie != "":
			p.writeCookie(s.header, o.cookie)
		case p.state != unread && !headerHas(s.header, "Vary", "Cookie"):
			// The response depends on the session it read: a shared
			// cache must not serve it to another browser.
			s.header.Add("Vary", "Cookie")
		}
	}
	return errors.Join(errs...)
}

// commitConcurrently commits the parts, the server-side ones whose backend
// may be reached each in its own goroutine.
func (s *Session) commitConcurrently(outs []outcome, now time.Time) {
	var wg sync.WaitGroup
	for i, p := range s.parts {
		if !p.conf.client && p.needsIO(now) {
			wg.Go(func() { outs[i] = p.commit(s.ctx, now) })
			continue
		}
		outs[i] = p.commit(s.ctx, now)
	}
	wg.Wait()
}

// permanentOf returns whether p is permanent after this request, as the
// server decided: as SetPermanent said in this request; or else as the
// terms of the session the browser holds say (for a server-side session the
// flag its storage key binds, for a client-side one the flag inside its
// authenticated record); or, for a session the browser starts now, whether
// a session it holds is permanent (see inheritedLocked).
func (s *Session) permanentOf(p *Part) bool {
	switch {
	case p.chosen() != nil:
		return *p.chosen()
	case p.conf.client && p.exists:
		return p.permanent
	case !p.conf.client && p.idOK && (!p.newID || p.carry):
		// The stored session, or its copy under a new id (Regenerate),
		// whose read proved the terms.
		return p.idc.permanent
	}
	return s.inherit
}

// chosen returns the permanence the handler chose for p in this request
// (with [Part.SetPermanent], else [Session.SetPermanent]), or nil.
func (p *Part) chosen() *bool {
	if p.perm != nil {
		return p.perm
	}
	return p.s.perm
}

// startsNew reports whether the save starts a session the browser does not
// hold, and whose permanence the handler did not choose, which then takes
// it from the others.
func (s *Session) startsNew() bool {
	for _, p := range s.parts {
		if p.chosen() == nil && p.state == ready && p.changed() && len(p.values) > 0 && !p.exists {
			return true
		}
	}
	return false
}

// inheritedLocked reports whether a session the browser holds is permanent,
// by what the server decided: a client-side session is decoded for it (a
// local step), a server-side one whose cookie claims it is read (the claim
// is only trusted once its storage key proved to hold a record). Only a
// request that starts a new session asks. The caller holds s.mu.
func (s *Session) inheritedLocked() bool {
	var claims [4]*Part
	server := claims[:0]
	for _, p := range s.parts {
		switch {
		case p.conf.client && p.in != "" && (!p.hintOK || p.hint.permanent):
			p.read(s.detachedCtx())
			if p.exists && p.permanent {
				return true
			}
		case !p.conf.client && p.idOK && !p.newID && p.idc.permanent:
			server = append(server, p)
		}
	}
	s.readAll(server) // a part that fails to read claims nothing
	for _, p := range server {
		if p.exists {
			return true
		}
	}
	return false
}

// movesIndex reports whether saving p must move its record to the index of
// the request's user: the user changed in this request, and no save of it
// in this request (Part.Token's) indexed the record under them already.
func (p *Part) movesIndex() bool {
	u := p.s.users
	return p.conf.index != nil && u.changed && (p.indexedAs == nil || *p.indexedAs != u.key)
}

// held reports whether the browser holds a cookie of p that may name a live
// session.
func (p *Part) held() bool {
	if p.conf.client {
		return p.in != ""
	}
	return p.idOK
}

// changed reports whether p has changes to write.
func (p *Part) changed() bool {
	return len(p.dirty) > 0 || p.newID || p.deleteOld
}

// moving reports whether SetPermanent changed the permanence of the stored
// server-side session: its record then moves to the storage key of its new
// terms.
func (p *Part) moving() bool {
	return !p.conf.client && p.idOK && !p.newID && p.chosen() != nil && *p.chosen() != p.idc.permanent
}

// needsIO reports whether committing a server-side part may reach its
// backend (used only to decide whether to commit parts concurrently).
func (p *Part) needsIO(now time.Time) bool {
	if p.state == failed {
		return false
	}
	return p.changed() || p.moving() || p.reindex || (p.idOK && !now.Before(p.idc.due))
}

// commit saves one part. It touches only p, so parts commit concurrently.
func (p *Part) commit(ctx context.Context, now time.Time) outcome {
	if p.state == failed {
		if p.lost {
			return outcome{err: &StoreError{Session: p.conf.name, Type: p.conf.typ, Op: "save",
				Err: fmt.Errorf("%w earlier in the request, so its changes were not saved: %w", ErrLoadFailed, p.loadErr)}}
		}
		return outcome{}
	}
	if p.conf.client {
		return p.commitClient(now)
	}
	return p.commitServer(ctx, now)
}

func (p *Part) fail(op string, err error) outcome {
	return outcome{err: &StoreError{Session: p.conf.name, Type: p.conf.typ, Op: op, Err: err}}
}

// ended handles a session that another request ended (log-out, login,
// revocation) or that expired while this request was in flight: what this
// request changed is dropped, as the session it changed no longer exists,
// and no cookie is sent, so that the cookie the ending request sent stays
// in the browser. It is logged, never reported as a failure.
func (p *Part) ended(ctx context.Context, op string) outcome {
	c := p.conf
	p.s.m.logger.WarnContext(ctx, "sessionplus: the session was ended by another request while this one was in flight; this request's changes to it were dropped",
		"session", c.name, "type", c.typ, "op", op)
	p.afterDelete()
	return outcome{}
}

func (p *Part) commitServer(ctx context.Context, now time.Time) outcome {
	c := p.conf
	oldKey := ""
	if p.idOK && p.needsIO(now) {
		oldKey = p.storageKey()
	}
	move := p.moving()
	if move {
		// The record moves whole: read it if the handler did not.
		if p.read(ctx); p.state == failed {
			return p.fail("save", fmt.Errorf("%w, so its new lifetime was not applied: %w", ErrLoadFailed, p.loadErr))
		}
		move = p.exists
	}
	switch {
	case p.changed() && len(p.values) == 0:
		// Emptied, cleared or destroyed: delete the record, expire the cookie.
		if oldKey != "" && (p.deleteOld || p.exists) {
			if err := c.del(ctx, oldKey); err != nil && !errors.Is(err, ErrNotFound) {
				return p.fail("delete", err)
			}
		}
		p.afterDelete()
		if p.in != "" {
			return outcome{cookie: p.expired()}
		}
		return outcome{}

	case move || (p.changed() && (p.newID || !p.exists)):
		// A new session; or the whole record under a new id (Regenerate),
		// or under the key of its new terms (a change of permanence), which
		// keeps the session's creation time and so its absolute deadline.
		perm := p.s.permanentOf(p)
		created := unixSec(now)
		if move {
			created = p.idc.created
		}
		deadline := c.deadline(perm, created, now)
		if !deadline.After(now) {
			return p.endedByAbsolute(ctx, oldKey)
		}
		idc := idCookie{id: newID(), permanent: perm, created: created}
		key := storageKey(c.keyPrefix, idc, c.hashIDs)
		u := Update{Kind: Create, Set: p.values, Expiry: deadline}
		if c.index != nil {
			if !p.s.users.known {
				return p.fail("save", fmt.Errorf("%w: the session that holds the user field could not be read, so the new record could not be indexed by user", ErrLoadFailed))
			}
			if u.User = p.s.users.key; u.User != "" {
				p.values[reservedMeta] = encodeMeta(perm, created)
				defer delete(p.values, reservedMeta)
			}
		}
		if _, err := c.save(ctx, key, u); err != nil {
			return p.fail("save", err)
		}
		if c.index != nil {
			p.indexedAs = &u.User
		}
		if oldKey != "" && (p.deleteOld || move) {
			err := c.del(ctx, oldKey)
			if (p.carry || move) && (errors.Is(err, ErrNotFound) || !now.Before(p.expiry)) {
				// The record this one copies was ended meanwhile: so is
				// its copy.
				if err := c.del(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
					return p.fail("delete", fmt.Errorf("the copy of a session that another request ended: %w", err))
				}
				return p.ended(ctx, "create")
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				return p.fail("delete", fmt.Errorf("old id after moving the session to a new one: %w", err))
			}
		}
		return p.afterSave(idc, deadline, now)

	case p.changed() || p.reindex:
		// A field-level write of what changed, under the same terms; or,
		// at a login or log-out, only the move to another user's index.
		deadline := c.deadline(p.idc.permanent, p.idc.created, now)
		if !deadline.After(now) {
			return p.endedByAbsolute(ctx, oldKey)
		}
		u := Update{Kind: Write, Expiry: deadline}
		if p.movesIndex() {
			u.User, u.SetUser = p.s.users.key, true
			if u.User != "" {
				u.Set = map[string][]byte{reservedMeta: encodeMeta(p.idc.permanent, p.idc.created)}
			}
		}
		for f := range p.dirty {
			if b, ok := p.values[f]; ok {
				if u.Set == nil {
					u.Set = make(map[string][]byte, len(p.dirty))
				}
				u.Set[f] = b
			} else {
				u.Del = append(u.Del, f)
			}
		}
		slices.Sort(u.Del)
		if _, err := c.save(ctx, oldKey, u); errors.Is(err, ErrNotFound) {
			if !p.changed() {
				return p.gone(now)
			}
			return p.ended(ctx, "write")
		} else if err != nil {
			return p.fail("save", err)
		}
		if u.SetUser {
			p.indexedAs = &u.User
		}
		return p.afterSave(p.idc, deadline, now)

	case p.in != "" && !p.idOK, p.state == ready && !p.exists && p.in != "":
		// A malformed, forged, unknown or expired id: forget the cookie.
		p.afterDelete()
		return outcome{cookie: p.expired()}

	case p.idOK && !now.Before(p.idc.due):
		// Untouched, but the keep-alive is due: move the expiry without
		// reading the record. The terms come from the cookie, and its
		// storage key binds them: under edited terms there is no record
		// to keep alive.
		deadline := c.deadline(p.idc.permanent, p.idc.created, now)
		if !deadline.After(now) {
			return p.endedByAbsolute(ctx, oldKey)
		}
		_, err := c.save(ctx, oldKey, Update{Kind: Touch, Expiry: deadline})
		if errors.Is(err, ErrNotFound) {
			return p.gone(now)
		}
		if err != nil {
			// The request needed nothing from this session: a failed
			// keep-alive is logged, not turned into a failed request.
			p.s.m.logger.WarnContext(ctx, "sessionplus: keep-alive failed",
				"session", c.name, "type", c.typ, "error", err.Error())
			return outcome{}
		}
		return p.afterSave(p.idc, deadline, now)
	}
	return outcome{}
}

// gone handles an untouched session whose record was not there to keep
// alive: expired on its own, its cookie is forgotten; otherwise another
// request ended it, and that request's response carries the cookie the
// browser should keep.
func (p *Part) gone(now time.Time) outcome {
	p.afterDelete()
	if !now.Before(p.conf.naturalEnd(p.idc)) {
		return outcome{cookie: p.expired()}
	}
	return outcome{}
}

// endedByAbsolute ends a session whose absolute lifetime has passed: its
// record goes (best effort: its own expiry is at that deadline anyway), its
// cookie is expired, and what this request changed is dropped.
func (p *Part) endedByAbsolute(ctx context.Context, oldKey string) outcome {
	if oldKey != "" {
		if err := p.conf.del(ctx, oldKey); err != nil && !errors.Is(err, ErrNotFound) {
			p.s.m.logger.WarnContext(ctx, "sessionplus: deleting a session past its absolute lifetime failed",
				"session", p.conf.name, "type", p.conf.typ, "error", err.Error())
		}
	}
	p.afterDelete()
	if p.in != "" {
		return outcome{cookie: p.expired()}
	}
	return outcome{}
}

// unixSec returns t to the second, as cookies carry times.
func unixSec(t time.Time) time.Time { return time.Unix(t.Unix(), 0) }

// detachedCtx returns the request's context without its cancellation, for
// encoding and decoding client-side sessions at save: that is local work,
// and a deadline that a slow backend of another session used up must not
// fail it. Made on first use, on the request's goroutine.
func (s *Session) detachedCtx() context.Context {
	if s.detached == nil {
		s.detached = context.WithoutCancel(s.ctx)
	}
	return s.detached
}

// commitClient saves a client-side part. It runs on the request's own
// goroutine (never concurrently with another client-side part).
func (p *Part) commitClient(now time.Time) outcome {
	c := p.conf
	if p.in != "" && !p.changed() && p.state == unread && p.hintOK && now.Before(p.hint.due) &&
		(p.chosen() == nil || *p.chosen() == p.hint.permanent) {
		// Untouched, and by the hint nothing is due: not even decoded. The
		// hint can only skip work; every save below takes its terms from
		// the authenticated record.
		return outcome{}
	}
	if p.in != "" && p.state == unread {
		p.read(p.s.detachedCtx()) // local: decodes the cookie
		if p.state == failed {
			return outcome{}
		}
	}
	if p.changed() && len(p.values) == 0 || p.in != "" && !p.exists && !p.changed() {
		// Emptied, or a tampered, garbage or expired cookie: expire it.
		p.afterDelete()
		if p.in != "" {
			return outcome{cookie: p.expired()}
		}
		return outcome{}
	}
	perm := p.s.permanentOf(p)
	if !p.changed() && !(p.exists && (perm != p.permanent || p.clientKeepAliveDue(now))) {
		return outcome{}
	}
	created := unixSec(now)
	if p.exists {
		created = p.created
	}
	deadline := c.deadline(perm, created, now)
	if !deadline.After(now) {
		return p.endedByAbsolute(p.s.detachedCtx(), "")
	}
	// The terms travel inside the encrypted record, under names no user
	// field can have.
	p.values[reservedCreated] = strconv.AppendInt(nil, created.Unix(), 10)
	if perm {
		p.values[reservedPermanent] = []byte{1}
	}
	v, err := c.save(p.s.detachedCtx(), "", Update{Kind: Create, Set: p.values, Expiry: deadline})
	delete(p.values, reservedCreated)
	delete(p.values, reservedPermanent)
	if err != nil {
		return p.fail("save", err)
	}
	h := hint{permanent: perm, due: c.nextDue(perm, deadline, now)}
	o := p.afterSaveValue(withHint(v, h), perm, deadline, now)
	if o.err == nil {
		p.token, p.hint, p.hintOK, p.created = v, h, true, created
	}
	return o
}

// clientKeepAliveDue reports whether an unchanged client-side session that
// was read is due to be saved again with a later expiry: a keep-alive
// interval after its last save, unless its absolute deadline caps it.
func (p *Part) clientKeepAliveDue(now time.Time) bool {
	c := p.conf
	if c.absolute > 0 && !p.expiry.Before(p.created.Add(c.absolute).Add(-time.Second)) {
		return false // capped: a new save could not move it
	}
	lt := c.lifetimeOf(p.permanent)
	return !now.Before(p.expiry.Add(-lt).Add(keepAliveInterval(lt)))
}

// afterSave records a successful server-side save of the session with the
// terms of idc and returns the cookie that carries it.
func (p *Part) afterSave(idc idCookie, expiry, now time.Time) outcome {
	c := p.conf
	idc.due = c.nextDue(idc.permanent, expiry, now)
	o := p.afterSaveValue(idc.encode(c.name, c.signKeys), idc.permanent, expiry, now)
	if o.err == nil {
		p.idc, p.idOK, p.key = idc, true, ""
	}
	return o
}

func (p *Part) afterSaveValue(value string, perm bool, expiry, now time.Time) outcome {
	c := p.conf
	if n := len(c.name) + 1 + len(value); n > MaxCookieSize {
		return p.fail("save", fmt.Errorf("%w: the cookie is %d bytes, over the browser limit of %d; store less in this session or move fields to a server-side session", ErrCookieTooLarge, n, MaxCookieSize))
	}
	if !validCookieValue(value) {
		return p.fail("save", fmt.Errorf("the store returned a value that is not a valid cookie value (RFC 6265 cookie-octets)"))
	}
	var maxAge int
	var expires time.Time
	switch {
	case perm:
		expires = expiry
	case c.maxAge > 0:
		expires = now.Add(c.maxAge)
		if expires.After(expiry) && c.absolute > 0 {
			expires = expiry // no cookie outlives the absolute deadline
		}
	}
	if !expires.IsZero() {
		maxAge = max(int(expires.Sub(now)/time.Second), 1)
	}
	// The request's state now is what was saved.
	p.in, p.exists, p.found, p.expiry, p.permanent = value, true, true, expiry, perm
	p.outToken = &p.in
	p.state, p.dirty, p.newID, p.deleteOld, p.carry, p.reindex = ready, nil, false, false, false, false
	return outcome{cookie: c.cookieLine(value, maxAge, expires)}
}

// afterDelete records that p holds nothing in its backend any more.
func (p *Part) afterDelete() {
	p.state, p.exists, p.idOK = ready, false, false
	p.dirty, p.newID, p.deleteOld, p.carry, p.reindex = nil, false, false, false, false
	p.values = map[string][]byte{}
	p.set = nil
}

// expired returns the Set-Cookie line that deletes p's cookie from the
// browser.
func (p *Part) expired() string {
	p.in = ""
	p.outToken = &p.in
	return p.conf.cookieLine("", -1, time.Unix(0, 0))
}

// cookieLine returns the Set-Cookie line of the session's cookie with value:
// with Max-Age when maxAge is not 0 (Max-Age=0 for a negative one) and
// Expires when expires is not zero. The name and attributes were checked at
// startup and the value by the caller, so nothing needs escaping.
func (c *sessionConf) cookieLine(value string, maxAge int, expires time.Time) string {
	b := make([]byte, 0, len(c.name)+len(value)+len(c.attrs)+64)
	b = append(b, c.name...)
	b = append(b, '=')
	b = append(b, value...)
	if !expires.IsZero() {
		b = append(b, "; Expires="...)
		b = expires.UTC().AppendFormat(b, http.TimeFormat)
	}
	switch {
	case maxAge > 0:
		b = append(b, "; Max-Age="...)
		b = strconv.AppendInt(b, int64(maxAge), 10)
	case maxAge < 0:
		b = append(b, "; Max-Age=0"...)
	}
	b = append(b, c.attrs...)
	return string(b)
}

// validCookieValue reports whether v holds only the bytes RFC 6265 allows
// in a cookie value.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// writeCookie puts the Set-Cookie line in the response header, replacing
// the line an earlier save of this part wrote, and marks the response as not
// cacheable.
func (p *Part) writeCookie(h http.Header, line string) {
	lines := h["Set-Cookie"]
	if i := slices.Index(lines, p.outLine); p.outLine != "" && i >= 0 {
		lines = slices.Delete(lines, i, i+1)
	}
	h["Set-Cookie"] = append(lines, line)
	p.outLine = line
	if !headerHas(h, "Vary", "Cookie") {
		h.Add("Vary", "Cookie")
	}
	if cc := h.Get("Cache-Control"); cc == "" {
		h.Set("Cache-Control", `no-cache="Set-Cookie"`)
	} else if !strings.Contains(strings.ToLower(cc), "no-cache") && !strings.Contains(strings.ToLower(cc), "no-store") {
		h.Set("Cache-Control", cc+`, no-cache="Set-Cookie"`)
	}
}

// writeToken answers a session that came in its token_header in the same
// header: the current token when it changed (as "Bearer <token>" in
// Authorization), an empty value when the session ended, nothing when it
// did not change. Every answer varies by the header, and none is cached.
func (p *Part) writeToken(h http.Header) {
	name := p.conf.tokenHeader
	if p.outToken != nil {
		v := *p.outToken
		if v != "" && name == "Authorization" {
			v = "Bearer " + v
		}
		h[name] = []string{v}
		h.Set("Cache-Control", "no-store")
	}
	if !headerHas(h, "Vary", name) {
		h.Add("Vary", name)
	}
}

// headerHas reports whether a comma-separated header lists token.
func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for part := range strings.SplitSeq(v, ",") {
			t := strings.TrimSpace(part)
			if strings.EqualFold(t, token) || t == "*" {
				return true
			}
		}
	}
	return false
}
