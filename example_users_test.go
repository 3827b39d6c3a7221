package sessionplus_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/sessionplus/sessionplus"
)

// With UserField set, a user's sessions can be listed and ended: after a
// password change, RevokeUser logs the user out on every device.
func ExampleManager_RevokeUser() {
	ctx := context.Background()
	m, err := sessionplus.New(ctx, sessionplus.Config{
		UserField: "user_id",
		Sessions: []sessionplus.Options{
			{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id"}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// request runs one request of a browser holding cookie and returns
	// the cookie it holds after, and who was logged in.
	request := func(cookie string, login bool) (string, any) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: "session", Value: cookie})
		}
		w := httptest.NewRecorder()
		sess := m.Begin(w, r)
		if login {
			if err := sess.Set("user_id", 42); err != nil {
				log.Fatal(err)
			}
		}
		user, _, err := sess.Get("user_id")
		if err != nil {
			log.Fatal(err)
		}
		if err := sess.Commit(); err != nil {
			log.Fatal(err)
		}
		for _, c := range w.Result().Cookies() {
			cookie = c.Value
		}
		return cookie, user
	}
	laptop, _ := request("", true)
	phone, _ := request("", true)

	list, err := m.UserSessions(ctx, "42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sessions of user 42:", len(list))

	n, err := m.RevokeUser(ctx, "42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked:", n)
	_, onLaptop := request(laptop, false)
	_, onPhone := request(phone, false)
	fmt.Println("logged in after:", onLaptop, onPhone)
	// Output:
	// sessions of user 42: 2
	// revoked: 2
	// logged in after: <nil> <nil>
}
