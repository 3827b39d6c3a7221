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
	session, err := sess.Part("session")
	if err != nil {
		return nil, err
	}
	return &userView{ID: id, Name: data.Name, LoggedInAt: data.LoggedInAt, Remembered: session.Permanent()}, nil
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
	// Flash messages are shown once: Flashes reads and removes them.
	flashes, err := sessionplus.Flashes[string](sess, "flash")
	if err != nil {
		return p, err
	}
	p.Flash = strings.Join(flashes, " ")
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
	// "Remember me": the user's session lasts session_permanent_lifetime
	// (31 days) and its cookie outlives the browser session; the CSRF
	// cookie stays a browser-session cookie.
	session, err := sess.Part("session")
	if err != nil {
		return err
	}
	if err := session.SetPermanent(d.Remember); err != nil {
		return err
	}
	// New ids at log-in, so that an id planted before it is worthless.
	if err := sess.Regenerate(); err != nil {
		return err
	}
	// "flash" is named by no session: "auto" puts it in the data cookie.
	if err := sess.AddFlash("flash", "Welcome, "+d.Username+"."); err != nil {
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
	if err := sess.AddFlash("flash", "Preferences saved."); err != nil {
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
	if err := sess.AddFlash("flash", "You are logged out."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

// The JSON API, for clients that are not browsers (a mobile app, a CLI):
// the server-side session comes and goes by token in the Authorization
// header ("Bearer <token>", the session's token_header), never by cookie.
// A token is not sent by a browser on its own, so these endpoints need no
// CSRF check.

// apiLogin logs a user in from {"username": "..."} and answers
// {"token": "..."}: the client sends it as "Authorization: Bearer <token>".
func (a *app) apiLogin(c echo.Context) error {
	var body struct {
		Username string `json:"username"`
	}
	if err := c.Bind(&body); err != nil {
		return err
	}
	if msg := checkUsername(body.Username); msg != "" {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": msg})
	}
	sess := multisession.Get(c)
	if err := sess.Regenerate(); err != nil {
		return err
	}
	if err := sess.Set("user_id", userID(body.Username)); err != nil {
		return err
	}
	if err := sess.Set("user_data", userData{Name: body.Username, LoggedInAt: time.Now().UTC().Truncate(time.Second)}); err != nil {
		return err
	}
	session, err := sess.Part("session")
	if err != nil {
		return err
	}
	token, err := session.Token() // saves the new session, so that it has its id
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"token": token})
}

// apiMe answers who the token belongs to, or 401.
func (a *app) apiMe(c echo.Context) error {
	u, err := currentUser(multisession.Get(c))
	if err != nil {
		return err
	}
	if u == nil {
		return c.JSON(http.StatusUnauthorized, map[string]string{"error": "not logged in: send Authorization: Bearer <token> from POST /api/login"})
	}
	return c.JSON(http.StatusOK, map[string]any{"id": u.ID, "name": u.Name, "logged_in_at": u.LoggedInAt})
}

// apiLogout ends the token's session: the token is worthless afterwards.
func (a *app) apiLogout(c echo.Context) error {
	if err := multisession.Get(c).Destroy(); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
