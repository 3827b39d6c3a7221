package main

import (
	"cmp"
	"fmt"
	"net/http"
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
}

// fieldRow is one field of the request and where it lives.
type fieldRow struct {
	Field   string
	Value   string
	Session *sessionRow // the first owner, which it is read from
	AlsoIn  []string    // the other owners, which it is also written to
}

// sessionRow is one configured session.
type sessionRow struct {
	Name       string
	Backend    string // session_type
	ClientSide bool
	Owns       string   // its session_fields, in words
	Holds      []string // the fields it holds in this request
	Cookie     cookieRow
	Expiry     string
}

// cookieRow is a session cookie's attributes, as shown.
type cookieRow struct {
	Path, Domain, SameSite, MaxAge string
	HttpOnly, Secure               bool
}

// where shows every field of the request, the session that owns it, and
// that session's backend, cookie and expiry.
func (a *app) where(c echo.Context) error {
	sess := multisession.Get(c)
	p, err := a.base(sess, "Where is my data?")
	if err != nil {
		return err
	}
	d := whereData{Permanent: sess.Permanent()}
	byName := map[string]*sessionRow{}
	for _, part := range sess.Parts() {
		row, err := describeSession(part)
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
		d.Fields = append(d.Fields, fieldRow{Field: k, Value: fmt.Sprintf("%v", v), Session: byName[owners[0]], AlsoIn: owners[1:]})
	}
	p.Data = d
	return a.render(c, http.StatusOK, "where", p)
}

func describeSession(part *sessionplus.Part) (*sessionRow, error) {
	holds, err := part.Keys()
	if err != nil {
		return nil, err
	}
	expiry, err := part.Expiry()
	if err != nil {
		return nil, err
	}
	ck := part.Cookie()
	row := &sessionRow{
		Name:       part.Name(),
		Backend:    part.Type(),
		ClientSide: part.ClientSide(),
		Owns:       describeFields(part.Fields()),
		Holds:      holds,
		Cookie: cookieRow{
			Path:     ck.Path,
			Domain:   cmp.Or(ck.Domain, "(this host only)"),
			SameSite: sameSiteName(ck.SameSite),
			HttpOnly: ck.HttpOnly,
			Secure:   ck.Secure,
		},
		Expiry: "nothing stored",
	}
	// A permanent session's cookie lasts until the record's expiry; any
	// other lasts cookie_max_age, or else the browser session.
	switch {
	case part.Permanent():
		row.Cookie.MaxAge = "until the expiry (permanent session)"
	case ck.MaxAge > 0:
		row.Cookie.MaxAge = fmt.Sprintf("%d s", ck.MaxAge)
	default:
		row.Cookie.MaxAge = "none: ends with the browser session"
	}
	if !expiry.IsZero() {
		row.Expiry = fmt.Sprintf("%s (in %s)", expiry.UTC().Format("2006-01-02 15:04:05 MST"), roughly(time.Until(expiry)))
	}
	return row, nil
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
