package main

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/multisession"
)

// Every session call below can fail (a backend that is down); handlers
// return those errors as they are, and the sessions middleware turns a
// backend failure into 503 Service Unavailable.

// themes are the values of the theme preference; the first is the default.
var themes = []string{"light", "dark", "sepia"}

// userView is who is logged in, as the pages show it.
type userView struct {
	ID         int
	Name       string
	LoggedInAt time.Time
	Remembered bool
}

// currentUser returns who is logged in, or nil. It reads the server-side
// session, once per request however many fields it reads.
func currentUser(sess *sessionplus.Session) (*userView, error) {
	id, ok, err := sessionplus.GetAs[int](sess, "user_id")
	if err != nil || !ok {
		return nil, err
	}
	data, _, err := sessionplus.GetAs[userData](sess, "user_data")
	if err != nil {
		return nil, err
	}
	return &userView{ID: id, Name: data.Name, LoggedInAt: data.LoggedInAt, Remembered: sess.Permanent()}, nil
}

// base returns the parts of a page that every page has: the theme, who is
// logged in and, for them, the CSRF token of the log-out button.
func (a *app) base(sess *sessionplus.Session, title string) (page, error) {
	p := page{Title: title}
	theme, _, err := sessionplus.GetAs[string](sess, "theme")
	if err != nil {
		return p, err
	}
	if slices.Contains(themes, theme) {
		p.Theme = theme
	}
	// A flash message is shown once: read, then deleted.
	flash, ok, err := sessionplus.GetAs[string](sess, "flash")
	if err != nil {
		return p, err
	}
	if ok {
		if err := sess.Delete("flash"); err != nil {
			return p, err
		}
		p.Flash = flash
	}
	if p.User, err = currentUser(sess); err != nil {
		return p, err
	}
	if p.User != nil {
		if p.CSRF, err = ensureCSRF(sess); err != nil {
			return p, err
		}
	}
	return p, nil
}

// ensureCSRF returns the CSRF token of the browser, making one (32 random
// bytes, base64url) the first time. It lives in the csrf session's cookie.
func ensureCSRF(sess *sessionplus.Session) (string, error) {
	token, _, err := sessionplus.GetAs[string](sess, "csrf_token")
	if err != nil || token != "" {
		return token, err
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand.Read panics rather than return an error
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, sess.Set("csrf_token", token)
}

// errCSRF is the answer to a form without the browser's CSRF token.
var errCSRF = echo.NewHTTPError(http.StatusForbidden,
	"The form's security token is missing or does not match this browser's (CSRF check failed). Reload the page and submit the form again.")

// checkCSRF checks, in constant time, that the form's csrf_token is the
// browser's. It returns errCSRF when it is not.
func checkCSRF(c echo.Context, sess *sessionplus.Session) error {
	want, _, err := sessionplus.GetAs[string](sess, "csrf_token")
	if err != nil {
		return err
	}
	got := c.FormValue("csrf_token")
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errCSRF
	}
	return nil
}

func (a *app) home(c echo.Context) error {
	p, err := a.base(multisession.Get(c), "Home")
	if err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "home", p)
}

// loginData is the log-in form's own data.
type loginData struct {
	Username string
	Remember bool
}

func (a *app) loginForm(c echo.Context) error {
	return a.renderLogin(c, http.StatusOK, loginData{}, "")
}

func (a *app) renderLogin(c echo.Context, code int, d loginData, msg string) error {
	sess := multisession.Get(c)
	p, err := a.base(sess, "Log in")
	if err != nil {
		return err
	}
	if p.CSRF, err = ensureCSRF(sess); err != nil {
		return err
	}
	p.Error, p.Data = msg, d
	return a.render(c, code, "login", p)
}

func (a *app) login(c echo.Context) error {
	sess := multisession.Get(c)
	if err := checkCSRF(c, sess); err != nil {
		return err
	}
	d := loginData{Username: strings.TrimSpace(c.FormValue("username")), Remember: c.FormValue("remember") != ""}
	if msg := checkUsername(d.Username); msg != "" {
		return a.renderLogin(c, http.StatusBadRequest, d, msg)
	}
	// A demo has no passwords: any well-formed name logs in.
	if err := sess.Set("user_id", userID(d.Username)); err != nil {
		return err
	}
	if err := sess.Set("user_data", userData{Name: d.Username, LoggedInAt: time.Now().UTC().Truncate(time.Second)}); err != nil {
		return err
	}
	// "Remember me": the sessions last session_permanent_lifetime (31 days)
	// and their cookies outlive the browser session.
	if err := sess.SetPermanent(d.Remember); err != nil {
		return err
	}
	// New ids at log-in, so that an id planted before it is worthless.
	if err := sess.Regenerate(); err != nil {
		return err
	}
	// "flash" is named by no session: "auto" puts it in the data cookie.
	if err := sess.Set("flash", "Welcome, "+d.Username+"."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

// checkUsername returns why name is not a user name, or "".
func checkUsername(name string) string {
	if name == "" {
		return "Enter a user name."
	}
	if utf8.RuneCountInString(name) > 32 {
		return "A user name has at most 32 characters."
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._-", r) {
			return "A user name has only letters, digits, '.', '_' and '-'."
		}
	}
	return ""
}

// userID returns the demo's user id of name: a stable six-digit number.
func userID(name string) int {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return 100000 + int(h.Sum32()%900000)
}

// prefsData is the preferences page's own data.
type prefsData struct {
	Themes []string
	Theme  string
	Visits int
}

func (a *app) prefsForm(c echo.Context) error {
	sess := multisession.Get(c)
	// "visits" and "theme" are named by no session, so "auto" routes them
	// to the data cookie.
	visits, _, err := sessionplus.GetAs[int](sess, "visits")
	if err != nil {
		return err
	}
	visits++
	if err := sess.Set("visits", visits); err != nil {
		return err
	}
	p, err := a.base(sess, "Preferences")
	if err != nil {
		return err
	}
	if p.CSRF, err = ensureCSRF(sess); err != nil {
		return err
	}
	p.Data = prefsData{Themes: themes, Theme: cmp.Or(p.Theme, themes[0]), Visits: visits}
	return a.render(c, http.StatusOK, "prefs", p)
}

func (a *app) savePrefs(c echo.Context) error {
	sess := multisession.Get(c)
	if err := checkCSRF(c, sess); err != nil {
		return err
	}
	theme := c.FormValue("theme")
	if !slices.Contains(themes, theme) {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("Unknown theme %q: choose one of %s.", theme, strings.Join(themes, ", ")))
	}
	if err := sess.Set("theme", theme); err != nil {
		return err
	}
	if err := sess.Set("flash", "Preferences saved."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/prefs")
}

func (a *app) logout(c echo.Context) error {
	sess := multisession.Get(c)
	if err := checkCSRF(c, sess); err != nil {
		return err
	}
	// Every session ends: the server-side record is deleted and every
	// cookie is expired.
	if err := sess.Destroy(); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}
