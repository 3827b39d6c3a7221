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
	s.inherit = s.inherited()
	var buf [8]outcome
	outs := buf[:0]
	if len(s.parts) > len(buf) {
		outs = make([]outcome, 0, len(s.parts))
	}
	outs = outs[:len(s.parts)]
	busy := 0
	for _, p := range s.parts {
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
	var errs []error
	for i, o := range outs {
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		if o.cookie != "" {
			s.parts[i].writeCookie(s.header, o.cookie)
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

// permanentOf returns whether p is permanent after this request: as
// SetPermanent said, or as its cookie said, or, for a session the browser
// does not hold yet, as the browser's other sessions say (see inherited).
func (s *Session) permanentOf(p *Part) bool {
	switch {
	case s.perm != nil:
		return *s.perm
	case p.held():
		return p.permanent
	}
	return s.inherit
}

// held reports whether the browser holds a live cookie of p: as read, or,
// for a client-side session not read, as its hint says.
func (p *Part) held() bool {
	if !p.conf.client {
		return p.idOK
	}
	if p.state == unread {
		return p.hintOK
	}
	return p.exists
}

// inherited reports whether a session the browser holds is permanent, so
// that a session it starts in a later request is permanent too. The caller
// holds s.mu.
func (s *Session) inherited() bool {
	for _, p := range s.parts {
		if p.held() && p.permanent {
			return true
		}
	}
	return false
}

// changed reports whether p has changes to write.
func (p *Part) changed() bool {
	return len(p.dirty) > 0 || p.newID || p.deleteOld
}

// needsIO reports whether committing a server-side part may reach its
// backend (used only to decide whether to commit parts concurrently).
func (p *Part) needsIO(now time.Time) bool {
	if p.state == failed {
		return false
	}
	return p.changed() || (p.idOK && (now.After(p.idc.due) || p.s.permanentOf(p) != p.permanent))
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

func (p *Part) commitServer(ctx context.Context, now time.Time) outcome {
	c := p.conf
	perm := p.s.permanentOf(p)
	expiry := now.Add(c.lifetimeOf(perm))
	oldKey := ""
	if p.idOK {
		oldKey = storageKey(c.keyPrefix, p.idc.id, c.hashIDs)
	}
	switch {
	case p.changed() && len(p.values) == 0:
		// Emptied, cleared or destroyed: delete the record, expire the cookie.
		if oldKey != "" && (p.deleteOld || p.exists) {
			if err := c.store.Delete(ctx, oldKey); err != nil {
				return p.fail("delete", err)
			}
		}
		p.afterDelete()
		if p.in != "" {
			return outcome{cookie: p.expired()}
		}
		return outcome{}

	case p.changed() && (p.newID || !p.exists):
		// A new session, or a new id for the whole record.
		id := newID()
		u := Update{Kind: Create, Set: p.values, Expiry: expiry}
		if _, err := c.store.Save(ctx, storageKey(c.keyPrefix, id, c.hashIDs), u); err != nil {
			return p.fail("save", err)
		}
		if p.deleteOld && oldKey != "" {
			if err := c.store.Delete(ctx, oldKey); err != nil {
				return p.fail("delete", fmt.Errorf("old id after moving the session to a new one: %w", err))
			}
		}
		return p.afterSave(id, perm, expiry, now)

	case p.changed():
		// A field-level write of what changed.
		u := Update{Kind: Write, Expiry: expiry}
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
		if _, err := c.store.Save(ctx, oldKey, u); err != nil {
			return p.fail("save", err)
		}
		return p.afterSave(p.idc.id, perm, expiry, now)

	case p.in != "" && !p.idOK, p.state == ready && !p.exists && p.in != "":
		// A malformed, forged, unknown or expired id: forget the cookie.
		p.afterDelete()
		return outcome{cookie: p.expired()}

	case p.idOK && (!now.Before(p.idc.due) || perm != p.permanent):
		// Untouched, but the keep-alive is due (or the lifetime changed):
		// move the expiry without reading the record.
		_, err := c.store.Save(ctx, oldKey, Update{Kind: Touch, Expiry: expiry})
		if errors.Is(err, ErrNotFound) {
			p.afterDelete()
			return outcome{cookie: p.expired()}
		}
		if err != nil {
			// The request needed nothing from this session: a failed
			// keep-alive is logged, not turned into a failed request.
			p.s.m.logger.WarnContext(ctx, "sessionplus: keep-alive failed",
				"session", c.name, "type", c.typ, "error", err.Error())
			return outcome{}
		}
		return p.afterSave(p.idc.id, perm, expiry, now)
	}
	return outcome{}
}

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
	perm := p.s.permanentOf(p)
	lifetime := c.lifetimeOf(perm)
	if p.in != "" && !p.changed() && p.state == unread && p.hintOK && now.Before(p.hint.due) && perm == p.hint.permanent {
		return outcome{} // untouched, and no keep-alive due: not even decoded
	}
	if p.in != "" && !p.changed() && p.state == unread {
		p.read(p.s.detachedCtx()) // local: decodes the cookie
		if p.state == failed {
			return outcome{}
		}
	}
	switch {
	case p.changed() && len(p.values) == 0, p.in != "" && !p.exists && !p.changed():
		// Emptied, or a tampered, garbage or expired cookie: expire it.
		p.afterDelete()
		if p.in != "" {
			return outcome{cookie: p.expired()}
		}
		return outcome{}
	case p.changed(), p.exists && (perm != p.permanent ||
		!now.Before(p.expiry.Add(-c.lifetimeOf(p.permanent)).Add(keepAliveInterval(c.lifetimeOf(p.permanent))))):
		expiry := now.Add(lifetime)
		set := p.values
		if perm {
			set = maps.Clone(p.values)
			if set == nil {
				set = map[string][]byte{}
			}
			set[reservedPermanent] = []byte{1}
		}
		v, err := c.store.Save(p.s.detachedCtx(), "", Update{Kind: Create, Set: set, Expiry: expiry})
		if err != nil {
			return p.fail("save", err)
		}
		h := hint{permanent: perm, due: now.Add(keepAliveInterval(lifetime))}
		o := p.afterSaveValue(withHint(v, h), perm, expiry, now)
		if o.err == nil {
			p.token, p.hint, p.hintOK = v, h, true
		}
		return o
	}
	return outcome{}
}

// afterSave records a successful server-side save under id and returns the
// cookie that carries it.
func (p *Part) afterSave(id string, perm bool, expiry, now time.Time) outcome {
	c := p.conf
	idc := idCookie{id: id, permanent: perm, due: now.Add(keepAliveInterval(c.lifetimeOf(perm)))}
	o := p.afterSaveValue(idc.encode(c.name, c.signKeys), perm, expiry, now)
	if o.err == nil {
		p.idc, p.idOK = idc, true
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
		expires, maxAge = expiry, max(int(expiry.Sub(now)/time.Second), 1)
	case c.maxAge > 0:
		expires, maxAge = now.Add(c.maxAge), int(c.maxAge/time.Second)
	}
	// The request's state now is what was saved.
	p.in, p.exists, p.expiry, p.permanent = value, true, expiry, perm
	p.state, p.dirty, p.newID, p.deleteOld = ready, nil, false, false
	return outcome{cookie: c.cookieLine(value, maxAge, expires)}
}

// afterDelete records that p holds nothing in its backend any more.
func (p *Part) afterDelete() {
	p.state, p.exists, p.idOK = ready, false, false
	p.dirty, p.newID, p.deleteOld = nil, false, false
	if p.values == nil {
		p.values = map[string][]byte{}
	}
}

// expired returns the Set-Cookie line that deletes p's cookie from the
// browser.
func (p *Part) expired() string {
	p.in = ""
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
