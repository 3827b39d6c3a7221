package sessionplus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sessionplus/sessionplus"
	"github.com/sessionplus/sessionplus/drivers/memory"
)

// boxOptions are the keys of a "box" session, decoded by their
// mapstructure tags.
type boxOptions struct {
	Servers []string      `mapstructure:"servers"`
	Timeout time.Duration `mapstructure:"timeout"`
}

// Validate checks what decoding cannot. Decode calls it, also in the dry
// run that checks every session before any backend is contacted.
func (o *boxOptions) Validate(cfg sessionplus.DriverConfig) error {
	if len(o.Servers) == 0 {
		return sessionplus.ConfigErrorf(`key "servers": required: a list of "host:port"`)
	}
	if _, ok := cfg.Options["timeout"]; ok && o.Timeout <= 0 {
		return sessionplus.ConfigErrorf(`key "timeout": expected a positive duration, got %v`, o.Timeout)
	}
	return nil
}

// boxDriver stands for a driver of a backend of its own.
type boxDriver struct{}

func (boxDriver) Open(ctx context.Context, cfg sessionplus.DriverConfig) (sessionplus.Store, error) {
	var o boxOptions
	if err := cfg.Decode(&o); err != nil {
		return nil, err
	}
	// Only now would a real driver dial o.Servers, logging to cfg.Logger.
	fmt.Printf("opening %q on %v, timeout %v\n", cfg.Name, o.Servers, o.Timeout)
	return memory.New(), nil
}

// A driver decodes its keys with DriverConfig.Decode, and checks the rest
// in its options' Validate method: every mistake is reported with the
// session's name and key before anything is opened.
func ExampleDriverConfig_Decode() {
	reg := new(sessionplus.Registry)
	reg.Register("box", boxDriver{})

	_, err := sessionplus.New(context.Background(), sessionplus.Config{Registry: reg, Sessions: []sessionplus.Options{
		{"cookie_name": "a", "session_type": "box", "servers": []string{"10.0.0.1:7000"}, "timeout": "0s"},
		{"cookie_name": "b", "session_type": "box", "timeout": "soon"},
	}})
	fmt.Println(err)

	m, err := sessionplus.New(context.Background(), sessionplus.Config{Registry: reg, Sessions: []sessionplus.Options{
		{"cookie_name": "a", "session_type": "box", "servers": []string{"10.0.0.1:7000"}, "timeout": 2},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	// Output:
	// sessionplus: session "a" (box): key "timeout": expected a positive duration, got 0s
	// sessionplus: session "b" (box): key "timeout": expected a duration such as "24h" or whole seconds, got string "soon"
	// opening "a" on [10.0.0.1:7000], timeout 2s
}
