package main

import (
	"fmt"
	"math"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/rs/zerolog"
)

// goMemoryShare is the share of the process's memory cap given to the Go
// heap's soft limit. Lower than the 0.9 usual for pure-Go services:
// ONNX Runtime's sessions and arenas, OpenCV's frames and the binary's
// mapped pages count against the same cap but not against the Go heap.
// Under deploy/edgeflow.service (MemoryMax=512M) it comes to 384 MiB, the
// unit's MemoryHigh, where the kernel starts to throttle.
const goMemoryShare = 0.75

// limitGoMemory gives the Go heap a soft limit of goMemoryShare of the
// memory cap edgeflow runs under: a container's memory limit or a systemd
// unit's MemoryMax, read from the cgroup (v2 memory.max, v1
// memory.limit_in_bytes) by memoryCap. Near the limit the collector runs more
// often instead of the heap doubling past the cap and the kernel killing
// the process mid-batch. Without a cap nothing changes, and the heap grows
// as GOGC says; GOMEMLIMIT, when set, wins, and AUTOMEMLIMIT=off turns
// this off. It returns the limit it set, or 0.
func limitGoMemory(log zerolog.Logger, memoryCap memlimit.Provider) int64 {
	before := debug.SetMemoryLimit(-1)
	limit, err := memlimit.Set(memlimit.WithProvider(memoryCap), memlimit.WithRatio(goMemoryShare))
	switch {
	case err != nil:
		// No memory controller (a Raspberry Pi OS default), not Linux:
		// no cap to follow, nothing to warn about.
		log.Debug().Err(err).Msg("no cgroup memory cap read: the Go heap has no soft limit (GOMEMLIMIT gives it one)")
		return 0
	case limit == before || limit == math.MaxInt64:
		return 0 // GOMEMLIMIT set, AUTOMEMLIMIT=off, or no cap
	}
	log.Info().Str("go_memory_limit", mebibytes(limit)).Float64("share_of_cap", goMemoryShare).
		Msg("Go heap soft limit set from the cgroup memory cap")
	return limit
}

func mebibytes(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
