package sessionplus_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/sessionplus/sessionplus"
	_ "github.com/sessionplus/sessionplus/drivers/cookie"
	_ "github.com/sessionplus/sessionplus/drivers/memory"
)

// The net/http middleware: sessions for any http.Handler (http.ServeMux,
// chi, ...), saved before the response headers go out.
func ExampleManager_Middleware() {
	m, err := sessionplus.New(context.Background(), sessionplus.Config{
		SecretKeys: [][]byte{[]byte("an example key of 32 bytes or more!!")},
		Sessions: []sessionplus.Options{
			{"cookie_name": "session", "session_type": "memory", "session_fields": []string{"user_id"}},
			{"cookie_name": "data", "session_type": "secure_cookie", "session_fields": "auto"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		sess := sessionplus.FromRequest(r)
		if err := sess.Set("user_id", 42); err != nil {
			code := sessionplus.ErrorStatus(err) // 503 when the backend is down
			http.Error(w, http.StatusText(code), code)
			return
		}
		fmt.Fprintln(w, "welcome") // the session is saved just before this goes out
	})
	handler := m.Middleware(mux) // http.ListenAndServe(addr, handler)

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	for _, c := range rec.Result().Cookies() {
		fmt.Println(c.Name, c.HttpOnly)
	}
	// Output:
	// 200 welcome
	// session true
}

// A configuration file names the environment variables of the secrets.
func ExampleParseConfig() {
	os.Setenv("EXAMPLE_SESSION_KEY", "an example key of 32 bytes or more!!")
	cfg, err := sessionplus.ParseConfig("sessions.yaml", []byte(`
secret_keys_env: [EXAMPLE_SESSION_KEY]
sessions:
  - cookie_name: session
    session_type: memory
    session_fields: [user_id]
    session_lifetime: 2h
  - cookie_name: data
    session_fields: auto
`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(cfg.SecretKeys), cfg.Sessions[0]["session_lifetime"], cfg.Sessions[0]["session_fields"])

	_, err = sessionplus.ParseConfig("sessions.yaml", []byte(`
secret_keys_env: [EXAMPLE_UNSET_KEY]
sessions: [{cookie_name: session}]
`))
	fmt.Println(err)
	// Output:
	// 1 2h [user_id]
	// sessionplus: sessions.yaml:2: key "secret_keys_env": environment variable "EXAMPLE_UNSET_KEY" is not set
}

// NewFromFile reads the file and builds the Manager; its errors name the
// file, the line, the session and the key.
func ExampleNewFromFile() {
	// example/sessions.yaml keeps the logged-in user on Redis at
	// $SESSIONPLUS_REDIS_URL and the secret key in $SESSIONPLUS_SECRET.
	m, err := sessionplus.NewFromFile(context.Background(), "example/sessions.yaml", sessionplus.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", m.Middleware(http.NewServeMux())))
}
