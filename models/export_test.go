package models

// ParseCPUInfo exposes the /proc/cpuinfo parser to the tests.
var ParseCPUInfo = parseCPUInfo
