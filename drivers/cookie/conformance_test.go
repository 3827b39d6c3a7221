package cookie_test

import (
	"context"
	"testing"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/cookie"
	"github.com/sessionplus/sessionplus/drivers/drivertest"
)

type harness struct{}

func (harness) MakeStore(context.Context) (sessionplus.Store, error) {
	return cookie.New("s", [][]byte{[]byte("conformance secret key, 32 bytes")})
}
func (harness) Stateless() bool { return true }
func (harness) Close()          {}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, func(context.Context, *testing.T) (drivertest.Harness, error) {
		return harness{}, nil
	})
}
