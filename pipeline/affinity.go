package pipeline

import "runtime"

// affinity keeps a ThreadBound stage's worker on its OS thread while it
// has work: locked once it takes messages, unlocked before it waits for
// more. A saturated worker so stays on one thread (and core) from run to
// run, while waking an idle one never has to wake one particular thread:
// in the anomaly example, whose model stage often runs dry, holding the
// lock across waits cost 40 % of the pipeline's throughput per CPU second
// (BENCHMARKS.md). The zero value does nothing.
type affinity struct {
	bound  bool // the stage asked for it
	locked bool
}

func (n *node) affinity() affinity {
	tb, ok := n.impl.(ThreadBound)
	return affinity{bound: ok && tb.ThreadBound()}
}

// hold locks the worker to its thread, if it is bound and not yet locked.
func (a *affinity) hold() {
	if a.bound && !a.locked {
		runtime.LockOSThread()
		a.locked = true
	}
}

// let unlocks the worker, if locked.
func (a *affinity) let() {
	if a.locked {
		runtime.UnlockOSThread()
		a.locked = false
	}
}

// beforeWait returns what a worker does before it waits for input: flush
// (the downstream wake-ups it deferred, or nil) and, if bound, let go of
// its thread.
func (a *affinity) beforeWait(flush func()) func() {
	if !a.bound {
		return flush
	}
	return func() {
		a.let()
		if flush != nil {
			flush()
		}
	}
}
