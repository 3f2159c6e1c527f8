package models

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// Options tune an ONNX Runtime session. The zero value takes ORT's defaults
// for threads, enables every graph optimisation, runs nodes sequentially and
// turns thread spinning off.
type Options struct {
	// IntraOpThreads is the size of the thread pool one operator uses;
	// 0 lets ORT choose (one per physical core).
	IntraOpThreads int
	// InterOpThreads is the pool for running independent nodes at once
	// (ExecutionMode "parallel" only); 0 lets ORT choose.
	InterOpThreads int
	// Optimization is the graph optimisation level: "disable", "basic",
	// "extended" or "all" (the default, "").
	Optimization string
	// ExecutionMode is "sequential" (the default, "") or "parallel".
	ExecutionMode string
	// Spinning lets idle ORT worker threads busy-wait for work. That costs
	// a core's worth of power on an idle edge device for a few percent of
	// latency, so it is off unless asked for.
	Spinning bool
	// ConfigEntries are extra ORT session configuration entries (keys from
	// onnxruntime_session_options_config_keys.h), applied last, e.g.
	// "session.disable_quant_qdq": "1" to make ORT fold a weight-only
	// model's DequantizeLinear nodes into float weights at load time.
	ConfigEntries map[string]string
	// Profile, when set, makes ORT write a per-operator profile (Chrome
	// trace JSON) to a file whose name starts with this prefix; ORT writes
	// it when the session closes.
	Profile string
}

// OptimizationLevels are the accepted values of Options.Optimization.
var OptimizationLevels = []string{"disable", "basic", "extended", "all"}

// ExecutionModes are the accepted values of Options.ExecutionMode.
var ExecutionModes = []string{"sequential", "parallel"}

// Validate checks the options without touching ONNX Runtime.
func (o Options) Validate() error {
	if o.IntraOpThreads < 0 || o.InterOpThreads < 0 {
		return fmt.Errorf("thread counts must not be negative (intra %d, inter %d)", o.IntraOpThreads, o.InterOpThreads)
	}
	if _, err := o.level(); err != nil {
		return err
	}
	if _, err := o.mode(); err != nil {
		return err
	}
	for k := range o.ConfigEntries {
		if k == "" {
			return fmt.Errorf("session config entry with an empty key")
		}
	}
	return nil
}

func (o Options) level() (ort.GraphOptimizationLevel, error) {
	switch o.Optimization {
	case "", "all":
		return ort.GraphOptimizationLevelEnableAll, nil
	case "extended":
		return ort.GraphOptimizationLevelEnableExtended, nil
	case "basic":
		return ort.GraphOptimizationLevelEnableBasic, nil
	case "disable", "none":
		return ort.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("unknown graph optimisation level %q (want one of %v)", o.Optimization, OptimizationLevels)
}

func (o Options) mode() (ort.ExecutionMode, error) {
	switch o.ExecutionMode {
	case "", "sequential":
		return ort.ExecutionModeSequential, nil
	case "parallel":
		return ort.ExecutionModeParallel, nil
	}
	return 0, fmt.Errorf("unknown execution mode %q (want one of %v)", o.ExecutionMode, ExecutionModes)
}

// sessionOptions builds ORT session options; the caller destroys them.
func (o Options) sessionOptions() (*ort.SessionOptions, error) {
	level, err := o.level()
	if err != nil {
		return nil, err
	}
	mode, err := o.mode()
	if err != nil {
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("create session options: %w", err)
	}
	fail := func(what string, err error) (*ort.SessionOptions, error) {
		so.Destroy()
		return nil, fmt.Errorf("session options: %s: %w", what, err)
	}
	if o.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return fail("intra-op threads", err)
		}
	}
	if o.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(o.InterOpThreads); err != nil {
			return fail("inter-op threads", err)
		}
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return fail("optimisation level", err)
	}
	if err := so.SetExecutionMode(mode); err != nil {
		return fail("execution mode", err)
	}
	if !o.Spinning {
		for _, key := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
			if err := so.AddSessionConfigEntry(key, "0"); err != nil {
				return fail(key, err)
			}
		}
	}
	if o.Profile != "" {
		if err := so.EnableProfiling(o.Profile); err != nil {
			return fail("profiling", err)
		}
	}
	for key, value := range o.ConfigEntries {
		if err := so.AddSessionConfigEntry(key, value); err != nil {
			return fail("config entry "+key, err)
		}
	}
	return so, nil
}
