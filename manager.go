package sessionplus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Manager holds the configured sessions of an application. It is built once
// at startup with [New] and is safe for concurrent use. For each request,
// [Manager.Begin] returns the request's [Session].
type Manager struct {
	confs  []*sessionConf
	router router
	logger *slog.Logger
	now    func() time.Time

	userField string // Config.UserField; "" for no index of users
	userOwner int    // the index of the first session that owns userField

	closeOnce sync.Once
	closeErr  error
	telReg    metric.Registration // of the store metrics' callback; nil without one
}

// New validates cfg and opens every session's store. It checks the whole
// configuration before it contacts any backend: every mistake is a
// *[ConfigError] that matches [ErrConfig] (and [ErrUnknownDriver] for an
// unknown session_type) and names the session and the key, and all of them
// come back at once, as an errors.Join in session order. Only then are the
// backends opened; if one fails, the stores opened so far are closed (a
// store passed in under "store" never is). cfg and its maps are never
// modified.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	b, err := buildSessions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	reg, err := setupTelemetry(cfg.TracerProvider, cfg.MeterProvider, b.confs)
	if err != nil {
		closeStores(b.confs)
		return nil, fmt.Errorf("sessionplus: MeterProvider: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	m := &Manager{confs: b.confs, router: b.router, logger: logger, now: time.Now, telReg: reg,
		userField: b.userField, userOwner: b.userOwner}
	m.indexUsers(ctx)
	return m, nil
}

// indexUsers sets up the index of users under Config.UserField, which
// buildSessions checked: each server-side store that keeps one gets it.
func (m *Manager) indexUsers(ctx context.Context) {
	if m.userField == "" {
		return
	}
	for _, c := range m.confs {
		if c.client {
			continue
		}
		if ix, ok := c.store.(UserIndex); ok {
			c.index = ix
			continue
		}
		m.logger.WarnContext(ctx, "sessionplus: the session's store keeps no index of users: UserSessions and RevokeUser cannot reach its sessions",
			"session", c.name, "type", c.typ)
	}
}

// Close closes the stores that drivers opened for the manager (those that
// implement io.Closer); clients the caller passed in stay open.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		if m.telReg != nil {
			m.closeErr = m.telReg.Unregister()
		}
		m.closeErr = errors.Join(m.closeErr, closeStores(m.confs))
	})
	return m.closeErr
}

// Logger returns the manager's logger.
func (m *Manager) Logger() *slog.Logger { return m.logger }

// Begin returns the session of one request. Nothing is read yet: a session
// is read from its backend at most once, when the handler first touches one
// of its fields, with the request's context. [Session.Save] writes the
// Set-Cookie lines into w's header.
func (m *Manager) Begin(w http.ResponseWriter, r *http.Request) *Session {
	// One allocation for the session and its parts, whatever their number.
	b := &struct {
		s     Session
		parts [4]Part
		ptrs  [4]*Part
	}{}
	s := &b.s
	s.m, s.ctx, s.header = m, r.Context(), w.Header()
	parts, ptrs := b.parts[:0], b.ptrs[:0]
	if len(m.confs) > len(b.parts) {
		parts, ptrs = make([]Part, 0, len(m.confs)), make([]*Part, 0, len(m.confs))
	}
	cookies := r.Header["Cookie"]
	var now time.Time
	for _, c := range m.confs {
		parts = append(parts, Part{s: s, conf: c})
		p := &parts[len(parts)-1]
		ptrs = append(ptrs, p)
		v := cookieValue(cookies, c.name)
		if v == "" && c.tokenHeader != "" {
			v, p.viaHeader = headerToken(r.Header, c.tokenHeader)
		}
		if v != "" {
			p.in = v
			if c.client {
				p.token, p.hint, p.hintOK = splitHint(v)
				continue
			}
			p.idc, p.idOK = parseIDCookie(c.name, v, c.signKeys)
			if p.idOK && c.absolute > 0 {
				if now.IsZero() {
					now = m.now()
				}
				// Past its absolute lifetime: a fresh session, whatever the
				// backend still holds.
				p.idOK = now.Before(p.idc.created.Add(c.absolute))
			}
		}
	}
	s.parts = ptrs
	return s
}

// headerToken returns the session token a request carries in header:
// "Bearer <token>" in Authorization, the bare token in any other header.
// via reports whether the header came at all, so that the answer goes by
// header too.
func headerToken(h http.Header, header string) (token string, via bool) {
	vs := h[header]
	if len(vs) == 0 {
		return "", false
	}
	v := strings.TrimSpace(vs[0])
	if header == "Authorization" {
		scheme, rest, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", true
		}
		v = strings.TrimSpace(rest)
	}
	return v, true
}

// cookieValue returns the value of the first cookie named name in the
// request's Cookie header lines, as http.Request.Cookie would, without
// parsing the cookies of other names.
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// Unavailable returns a session whose every method fails with err, for a
// request where no session could be begun. Adapters return it so that a
// handler sees a clear error instead of a nil pointer.
func Unavailable(err error) *Session {
	return &Session{err: err}
}
