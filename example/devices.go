package main

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/multisession"
)

// The "your sessions" page lists the devices the user is logged in on and
// signs out one of them or all the others. Config.UserField is "user_id",
// so every server-side record of a logged-in browser is indexed under its
// user (see Manager.UserSessions).

// device is one row of the page.
type device struct {
	sessionplus.UserSession
	This bool // the browser that shows the page
}

// devicesData is the page's own data.
type devicesData struct {
	Devices []device
	Others  int
}

// userKey returns the user key of the logged-in user, as UserSessions
// takes it (the decimal user_id), and false when nobody is logged in.
func userKey(sess *sessionplus.Session) (string, bool, error) {
	id, ok, err := sessionplus.GetAs[int](sess, "user_id")
	return strconv.Itoa(id), ok, err
}

func (a *app) devices(c echo.Context) error {
	sess := multisession.Get(c)
	p, err := a.base(sess, "Your sessions")
	if err != nil || p.User == nil {
		if err == nil {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		return err
	}
	user, _, _ := userKey(sess)
	list, err := a.m.UserSessions(c.Request().Context(), user)
	if err != nil {
		return err
	}
	d := devicesData{}
	for _, us := range list {
		this := sess.Holds(us)
		d.Devices = append(d.Devices, device{UserSession: us, This: this})
		if !this {
			d.Others++
		}
	}
	p.Data, p.Wide = d, true
	return a.render(c, http.StatusOK, "devices", p)
}

// signOutDevice ends the session whose handle the form names. The handle
// must be one of the logged-in user's own sessions, and not this
// browser's: a handle sent by the client is checked against the list,
// never trusted.
func (a *app) signOutDevice(c echo.Context) error {
	sess := multisession.Get(c)
	if err := checkCSRF(c, sess); err != nil {
		return err
	}
	user, ok, err := userKey(sess)
	if err != nil || !ok {
		if err == nil {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		return err
	}
	ctx := c.Request().Context()
	list, err := a.m.UserSessions(ctx, user)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(list, sess.Holds) {
		// This browser read its user before another of the user's devices
		// signed it out: it signs out nobody in turn.
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	handle := c.FormValue("handle")
	for _, us := range list {
		if us.Handle != handle {
			continue
		}
		if sess.Holds(us) {
			return echo.NewHTTPError(http.StatusBadRequest, "That is this browser's own session: use Log out to end it.")
		}
		if err := a.m.RevokeSession(ctx, handle); err != nil && !errors.Is(err, sessionplus.ErrNotFound) {
			return err
		}
		if err := sess.AddFlash("flash", "Signed out the session created "+us.Created.UTC().Format(time.DateTime)+" UTC."); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/sessions")
	}
	return echo.NewHTTPError(http.StatusNotFound, "No session of yours has that handle: it may have ended already. Reload the page.")
}

// signOutOthers ends every session of the user but this browser's.
func (a *app) signOutOthers(c echo.Context) error {
	sess := multisession.Get(c)
	if err := checkCSRF(c, sess); err != nil {
		return err
	}
	n, err := sess.RevokeOthers()
	if errors.Is(err, sessionplus.ErrNotFound) {
		return c.Redirect(http.StatusSeeOther, "/login") // this browser was signed out meanwhile
	}
	if err != nil {
		return err
	}
	if err := sess.AddFlash("flash", "Signed out "+strconv.Itoa(n)+" other session"+plural(n)+"."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/sessions")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
