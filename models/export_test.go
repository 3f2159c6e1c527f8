package models

// ParseCPUInfo exposes the /proc/cpuinfo parser to the tests.
var ParseCPUInfo = parseCPUInfo

// Version is the model's current version, for tests that follow one
// through a swap.
func Version(m *Model) any { return m.cur.Load() }

// Destroyed reports whether a version from Version has given up its last
// reference, which closes its session.
func Destroyed(v any) bool { return v.(*version).refs.Load() == 0 }
