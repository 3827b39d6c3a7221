// Package owned closes the client a driver's Open built for its store.
//
// A store opened from a URL or a list of servers owns the client it built,
// and its Close must close that client once; a store made around a client
// the caller passed in must leave it open, for the caller still uses it.
// Every driver of this module keeps that rule in a [Client].
package owned

import "sync"

// Client holds the close function of a client a store owns. The zero value
// owns nothing, and its Close returns nil: the store of a client the caller
// passed in. It is safe for concurrent use.
type Client struct {
	close func() error
	once  sync.Once
	err   error
}

// Own makes c responsible for the client that close closes. It is called
// once, by Open, before the store is shared.
func (c *Client) Own(close func() error) { c.close = close }

// Close closes the owned client the first time it is called, and returns
// that call's error every time. With no client owned it returns nil.
func (c *Client) Close() error {
	if c.close == nil {
		return nil
	}
	c.once.Do(func() { c.err = c.close() })
	return c.err
}
