package reliability

import (
	"net"
	"sync"
	"testing"
)

// proxyMode is what a faultProxy does with the traffic it relays.
type proxyMode int

const (
	// pass relays every byte both ways.
	pass proxyMode = iota
	// refuse closes every connection, open or new: the backend is
	// unreachable, as when its server is down.
	refuse
	// hang accepts connections and never answers: every byte, both ways, is
	// swallowed, as by a server that is stuck or a network that drops
	// packets. Leaving hang closes the connections that hung.
	hang
)

// faultProxy is a TCP proxy in front of one backend server, in-process, that
// injects faults without touching the server (so an in-memory backend keeps
// its data).
type faultProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	links map[*link]struct{}
}

// link is one relayed connection.
type link struct {
	client, upstream net.Conn // upstream is nil for a connection accepted while hanging
	hung             bool
}

func (l *link) close() {
	l.client.Close()
	if l.upstream != nil {
		l.upstream.Close()
	}
}

// newProxy starts a proxy to target on a loopback port of its own, stopped
// when the test ends.
func newProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, links: make(map[*link]struct{})}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *faultProxy) handle(c net.Conn) {
	p.mu.Lock()
	mode := p.mode
	p.mu.Unlock()
	switch mode {
	case refuse:
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as from a port nothing listens on
		}
		c.Close()
		return
	case hang:
		l := &link{client: c, hung: true}
		if !p.track(l) {
			return
		}
		go p.pipe(l, c, nil)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	l := &link{client: c, upstream: up}
	if !p.track(l) {
		return
	}
	go p.pipe(l, c, up)
	go p.pipe(l, up, c)
}

// track registers l, unless the mode changed meanwhile (then l is closed).
func (p *faultProxy) track(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.links == nil || (p.mode == refuse) || (p.mode == pass && l.hung) {
		l.close()
		return false
	}
	if p.mode == hang {
		l.hung = true
	}
	p.links[l] = struct{}{}
	return true
}

// pipe copies from src to dst (nil: nowhere) until src fails, dropping
// what it reads while l hangs.
func (p *faultProxy) pipe(l *link, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hung := l.hung
			p.mu.Unlock()
			if !hung && dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
		}
		if err != nil {
			break
		}
	}
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.close()
}

// set switches the proxy to mode m: refuse closes every connection; hang
// makes every open connection swallow its traffic; pass closes the
// connections that hung (their clients gave up on them) and relays again.
func (p *faultProxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	for l := range p.links {
		switch {
		case m == refuse, m == pass && l.hung:
			l.close()
			delete(p.links, l)
		case m == hang:
			l.hung = true
		}
	}
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.close()
	}
	p.links = nil
}

// proxies is the set of proxies in front of one instance's servers.
type proxies []*faultProxy

func (ps proxies) set(m proxyMode) {
	for _, p := range ps {
		p.set(m)
	}
}

// byTarget maps each server's address to its proxy's.
func (ps proxies) byTarget() map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.target] = p.addr()
	}
	return m
}

func (ps proxies) addrs() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.addr()
	}
	return out
}
