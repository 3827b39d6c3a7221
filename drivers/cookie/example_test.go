package cookie_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/cookie"
)

func ExampleNew() {
	// In production the secrets come from configuration, newest first.
	secret := make([]byte, sessionplus.MinSecretKeyLen)
	rand.Read(secret)

	st, err := cookie.New("session", [][]byte{secret})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Field values are opaque bytes, encoded by the root package.
	value, err := st.Save(ctx, "", sessionplus.Update{
		Set:    map[string][]byte{"user": []byte("alice")},
		Expiry: time.Now().Add(time.Hour),
		Kind:   sessionplus.Create,
	})
	if err != nil {
		log.Fatal(err)
	}

	rec, err := st.Load(ctx, value)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(rec.Values["user"]))

	// A tampered cookie is no session.
	_, err = st.Load(ctx, value[:len(value)-2])
	fmt.Println(errors.Is(err, sessionplus.ErrNotFound))
	// Output:
	// alice
	// true
}
