package sessionplus_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sessionplus/sessionplus"
)

// fakeDriver is a driver registered only in tests (as database/sql's fakedb).
type fakeDriver struct{}

func (fakeDriver) Open(context.Context, sessionplus.DriverConfig) (sessionplus.Store, error) {
	return nil, errors.New("fake")
}

func expectPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if got := recover(); got != want {
			t.Errorf("panic = %v, want %q", got, want)
		}
	}()
	f()
}

func TestRegistry(t *testing.T) {
	var r sessionplus.Registry // the zero value is ready to use
	if got := r.Drivers(); len(got) != 0 {
		t.Fatalf("empty registry lists %v", got)
	}
	r.Register("zeta", fakeDriver{})
	r.Register("alpha", fakeDriver{})
	if got := r.Drivers(); !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Errorf("Drivers() = %v, want sorted [alpha zeta]", got)
	}
	expectPanic(t, "sessionplus: Register driver is nil", func() { r.Register("x", nil) })
	expectPanic(t, "sessionplus: Register called with an empty session_type", func() { r.Register("", fakeDriver{}) })
	expectPanic(t, `sessionplus: Register called twice for driver "zeta"`, func() { r.Register("zeta", fakeDriver{}) })

	if d, err := r.Lookup("alpha"); err != nil || d == nil {
		t.Errorf("Lookup(alpha) = %v, %v", d, err)
	}
	_, err := r.Lookup("reddis")
	want := `sessionplus: unknown session_type "reddis" (did you mean "redis"? it needs import _ "github.com/sessionplus/sessionplus/drivers/redis"); registered: alpha, zeta`
	if !errors.Is(err, sessionplus.ErrUnknownDriver) || err.Error() != want {
		t.Errorf("Lookup(reddis) error =\n  %v\nwant\n  %s", err, want)
	}
	_, err = r.Lookup("mongodb")
	if err == nil || !contains(err.Error(), `(forgotten import _ "github.com/sessionplus/sessionplus/drivers/mongo"?)`) {
		t.Errorf("Lookup(mongodb) error %v does not hint at drivers/mongo", err)
	}
	var empty sessionplus.Registry
	if _, err := empty.Lookup("redis"); err == nil || !contains(err.Error(), "registered: none") {
		t.Errorf("empty registry Lookup error = %v", err)
	}
}

func TestDefaultRegistryHasImportedDrivers(t *testing.T) {
	got := sessionplus.Drivers()
	for _, want := range []string{"memory", "secure_cookie"} {
		if !slices.Contains(got, want) {
			t.Errorf("Drivers() = %v, missing %q whose package the test imports", got, want)
		}
	}
}
