package sessionplus

import "time"

// SetClock makes m read the time from now, for tests of lifetimes and
// keep-alives that must not sleep.
func SetClock(m *Manager, now func() time.Time) { m.now = now }
