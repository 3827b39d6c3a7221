package sessionplus

import "time"

// SetClock makes m read the time from now, for tests of lifetimes and
// keep-alives that must not sleep.
func SetClock(m *Manager, now func() time.Time) { m.now = now }

// SessionTypes returns the cookie name and session_type of each configured
// session, "name/type", in config order.
func SessionTypes(m *Manager) []string {
	out := make([]string, len(m.confs))
	for i, c := range m.confs {
		out[i] = c.name + "/" + c.typ
	}
	return out
}
