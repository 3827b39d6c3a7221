package drivertest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
)

// signedStore is a minimal client-side store: the record, signed, is the
// token. It runs the suite's stateless paths, which no store in this
// package's own imports would.
type signedStore struct{ key []byte }

var (
	_ sessionplus.Store      = signedStore{}
	_ sessionplus.ClientSide = signedStore{}
)

func (signedStore) ClientSide() bool { return true }

func (s signedStore) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return m.Sum(nil)
}

func (s signedStore) Save(_ context.Context, _ string, u sessionplus.Update) (string, error) {
	if u.Kind != sessionplus.Create {
		return "", errors.New("signedstore: only whole records can be saved")
	}
	payload := sessionplus.MarshalRecord(sessionplus.Record{Values: u.Set, Expiry: u.Expiry})
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(payload)), nil
}

func (s signedStore) Load(_ context.Context, token string) (sessionplus.Record, error) {
	enc := base64.RawURLEncoding
	p, m, ok := strings.Cut(token, ".")
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(payload)) {
		return sessionplus.Record{}, fmt.Errorf("%w: bad signature", sessionplus.ErrNotFound)
	}
	rec, err := sessionplus.UnmarshalRecord(payload)
	if err != nil {
		return sessionplus.Record{}, err
	}
	return rec, nil
}

func (signedStore) Delete(context.Context, string) error { return nil }

type statelessHarness struct{}

func (statelessHarness) MakeStore(context.Context) (sessionplus.Store, error) {
	return signedStore{key: []byte("drivertest self-test key, 32 bytes+")}, nil
}
func (statelessHarness) Stateless() bool { return true }
func (statelessHarness) Close()          {}

func TestConformanceStateless(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return statelessHarness{}, nil
	})
}
