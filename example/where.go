package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/multisession"
)

// whereData is the "where is my data" page's own data.
type whereData struct {
	Fields    []fieldRow
	Sessions  []*sessionRow
	Permanent bool
	Backend   string // the -backend of the server-side session
	Where     string // where that backend keeps the data
}

// fieldRow is one field of the request and where it lives.
type fieldRow struct {
	Field   string
	Value   string      // as JSON, or the string itself
	Session *sessionRow // the first owner, which it is read from
	AlsoIn  []string    // the other owners, which it is also written to
}

// sessionRow is one configured session.
type sessionRow struct {
	Name       string
	Backend    string // session_type
	Where      string // where the backend keeps the data
	ClientSide bool
	Owns       string   // its session_fields, in words
	Holds      []string // the fields it holds in this request
	Cookie     cookieRow
	Expiry     expiryRow
}

// cookieRow is a session cookie, as shown.
type cookieRow struct {
	Attrs  string // its attributes, as in a Set-Cookie line
	MaxAge string // how long it lasts
}

// expiryRow is when a session expires, as shown.
type expiryRow struct {
	At, In string // empty when the session holds nothing
}

// where shows every field of the request, the session that owns it, and
// that session's backend, cookie and expiry.
func (a *app) where(c echo.Context) error {
	sess := multisession.Get(c)
	p, err := a.base(sess, "Where is my data?")
	if err != nil {
		return err
	}
	p.Wide = true
	d := whereData{Permanent: sess.Permanent(), Backend: a.backend, Where: a.storedIn}
	byName := map[string]*sessionRow{}
	for _, part := range sess.Parts() {
		row, err := a.describeSession(part)
		if err != nil {
			return err
		}
		d.Sessions = append(d.Sessions, row)
		byName[row.Name] = row
	}
	keys, err := sess.Keys()
	if err != nil {
		return err
	}
	for _, k := range keys {
		v, _, err := sess.Get(k)
		if err != nil {
			return err
		}
		owners := sess.Owners(k)
		d.Fields = append(d.Fields, fieldRow{Field: k, Value: showValue(v), Session: byName[owners[0]], AlsoIn: owners[1:]})
	}
	p.Data = d
	return a.render(c, http.StatusOK, "where", p)
}

// showValue formats a field's value: a string as it is, anything else as
// JSON, the form the sessions store it in.
func showValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// describeSession describes one configured session.
func (a *app) describeSession(part *sessionplus.Part) (*sessionRow, error) {
	holds, err := part.Keys()
	if err != nil {
		return nil, err
	}
	expiry, err := part.Expiry()
	if err != nil {
		return nil, err
	}
	row := &sessionRow{
		Name:       part.Name(),
		Backend:    part.Type(),
		ClientSide: part.ClientSide(),
		Owns:       describeFields(part.Fields()),
		Holds:      holds,
		Cookie:     describeCookie(part),
	}
	if part.ClientSide() {
		row.Where = "the browser: this cookie, signed and encrypted"
	} else {
		row.Where = a.storedIn // the one server-side session, on the -backend
	}
	if !expiry.IsZero() {
		row.Expiry = expiryRow{At: expiry.UTC().Format("2006-01-02 15:04 MST"), In: "in " + roughly(time.Until(expiry))}
	}
	return row, nil
}

// describeCookie gives the attributes of a session's cookie, in the order
// and words of a Set-Cookie line, and how long the cookie lasts.
func describeCookie(part *sessionplus.Part) cookieRow {
	ck := part.Cookie()
	attrs := []string{"Path=" + ck.Path}
	if ck.Domain != "" {
		attrs = append(attrs, "Domain="+ck.Domain)
	} else {
		attrs = append(attrs, "host-only")
	}
	if ck.HttpOnly {
		attrs = append(attrs, "HttpOnly")
	} else {
		attrs = append(attrs, "not HttpOnly")
	}
	if ck.Secure {
		attrs = append(attrs, "Secure")
	} else {
		attrs = append(attrs, "not Secure")
	}
	attrs = append(attrs, "SameSite="+sameSiteName(ck.SameSite))
	row := cookieRow{Attrs: strings.Join(attrs, "; ")}
	// A permanent session's cookie lasts until the record's expiry; any
	// other lasts cookie_max_age, or else the browser session.
	switch {
	case part.Permanent():
		row.MaxAge = "until the expiry (permanent session)"
	case ck.MaxAge > 0:
		row.MaxAge = fmt.Sprintf("Max-Age=%d", ck.MaxAge)
	default:
		row.MaxAge = "until the browser closes"
	}
	return row
}

// describeFields says in words what a session owns.
func describeFields(f string) string {
	if f == "auto" {
		return `"auto": every field that no other session names`
	}
	return f
}

func sameSiteName(s http.SameSite) string {
	switch s {
	case http.SameSiteLaxMode:
		return "Lax"
	case http.SameSiteStrictMode:
		return "Strict"
	case http.SameSiteNoneMode:
		return "None"
	}
	return "(browser default)"
}

// roughly formats d in days, hours and minutes.
func roughly(d time.Duration) string {
	d = d.Round(time.Minute)
	days, h, m := d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}
