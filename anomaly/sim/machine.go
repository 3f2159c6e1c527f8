package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Fault kinds the machine simulator injects.
const (
	Spike  = "spike"  // one reading far off
	Shift  = "shift"  // the level jumps, then comes back
	Drift  = "drift"  // the level ramps away, then snaps back
	Stuck  = "stuck"  // the sensor repeats one value
	Noise  = "noise"  // the noise grows eightfold (a loose bearing)
	Cutout = "cutout" // the reading drops to zero (a broken wire)
)

// FaultKinds lists every kind, in the order the simulator cycles through.
var FaultKinds = []string{Spike, Shift, Drift, Stuck, Noise, Cutout}

// MachineConfig describes a simulated machine: three sensors (temperature,
// vibration, motor current) with daily-like cycles, noise, and faults
// injected on a schedule.
type MachineConfig struct {
	// Name is the machine id; its sensors are <name>-temp, <name>-vibration
	// and <name>-current.
	Name string
	// Readings is how many readings each sensor produces (default 3000).
	Readings int
	// Interval is the time between two readings of a sensor (default 1s).
	Interval time.Duration
	// Start is the time of the first reading (default 2024-01-01 UTC).
	Start time.Time
	// Seed makes the noise and the fault schedule reproducible.
	Seed uint64
	// Quiet is how many readings come before the first fault (default 800):
	// the detector learns what normal is first.
	Quiet int
	// Every is how many readings pass between the starts of two faults of
	// the machine (default 500); each fault hits one sensor, in turn.
	Every int
	// Length is how many readings a fault lasts (default 30; a spike is one).
	Length int
	// Kinds are the fault kinds to cycle through (default FaultKinds).
	Kinds []string
}

func (c MachineConfig) withDefaults() (MachineConfig, error) {
	if c.Name == "" {
		c.Name = "machine-1"
	}
	if c.Readings <= 0 {
		c.Readings = 3000
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Quiet <= 0 {
		c.Quiet = 800
	}
	if c.Every <= 0 {
		c.Every = 500
	}
	if c.Length <= 0 {
		c.Length = 30
	}
	if len(c.Kinds) == 0 {
		c.Kinds = FaultKinds
	}
	for _, k := range c.Kinds {
		if !slices.Contains(FaultKinds, k) {
			return c, fmt.Errorf("sim: fault kind %q: want one of %v", k, FaultKinds)
		}
	}
	return c, nil
}

// Fault is one injected fault.
type Fault struct {
	Sensor string
	Kind   string
	// From and To are the indices of its first and last reading.
	From, To int
	// Start and End are the times of its first and last reading.
	Start, End time.Time
}

// signal is one sensor's clean shape: level + amp·shape(i) + noise·N(0,1).
type signal struct {
	suffix      string
	level, amp  float64
	period      float64
	noise       float64
	squareShape bool // a load cycle (smoothed square) rather than a sine
}

var machineSignals = []signal{
	{suffix: "temp", level: 65, amp: 4, period: 360, noise: 0.25},
	{suffix: "vibration", level: 2, amp: 0.2, period: 45, noise: 0.04},
	{suffix: "current", level: 12, amp: 3, period: 240, noise: 0.2, squareShape: true},
}

// Machine returns the series of one simulated machine's sensors and the
// faults injected into them. The same config always gives the same
// readings.
func Machine(cfg MachineConfig) ([]Series, []Fault, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	series := make([]*machineSeries, len(machineSignals))
	for i, sig := range machineSignals {
		series[i] = &machineSeries{cfg: cfg, sig: sig, sensor: SensorID(cfg.Name + "-" + sig.suffix),
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)), phase: r.Float64() * 2 * math.Pi}
	}
	var faults []Fault
	k := 0
	for from := cfg.Quiet; from < cfg.Readings; from += cfg.Every {
		// Kinds cycle; the sensor moves on with every fault and skips one
		// after each full cycle, so that each sensor sees every kind.
		kind := cfg.Kinds[(k+int(cfg.Seed%uint64(len(cfg.Kinds))))%len(cfg.Kinds)]
		s := series[(k+k/len(cfg.Kinds))%len(series)]
		to := min(from+cfg.Length, cfg.Readings) - 1
		if kind == Spike {
			to = from
		}
		f := Fault{Sensor: s.sensor, Kind: kind, From: from, To: to,
			Start: cfg.Start.Add(time.Duration(from) * cfg.Interval), End: cfg.Start.Add(time.Duration(to) * cfg.Interval)}
		s.faults = append(s.faults, f)
		faults = append(faults, f)
		k++
	}
	out := make([]Series, len(series))
	for i, s := range series {
		out[i] = s
	}
	return out, faults, nil
}

// machineSeries generates one sensor's readings on the fly.
type machineSeries struct {
	cfg    MachineConfig
	sig    signal
	sensor string
	rng    *rand.Rand
	phase  float64
	faults []Fault // in order
	i      int
	last   float64 // the previous clean reading, for stuck faults
}

func (s *machineSeries) Sensor() string { return s.sensor }

func (s *machineSeries) Next() (Reading, bool) {
	if s.i >= s.cfg.Readings {
		return Reading{}, false
	}
	i := s.i
	s.i++
	x := 2*math.Pi*float64(i)/s.sig.period + s.phase
	shape := math.Sin(x)
	if s.sig.squareShape {
		shape = math.Tanh(3 * shape)
	}
	clean := s.sig.level + s.sig.amp*shape
	noise := s.sig.noise * s.rng.NormFloat64()
	v := clean + noise
	fault := false
	for len(s.faults) > 0 && s.faults[0].To < i {
		s.faults = s.faults[1:]
	}
	if len(s.faults) > 0 && s.faults[0].From <= i {
		f := s.faults[0]
		fault = true
		k := float64(i-f.From+1) / float64(f.To-f.From+1)
		switch f.Kind {
		case Spike:
			v += 4 * s.sig.amp
		case Shift:
			v += 1.5 * s.sig.amp
		case Drift:
			v += 2.5 * s.sig.amp * k
		case Stuck:
			v = s.last
		case Noise:
			v = clean + 8*noise
		case Cutout:
			v = 0
		}
	}
	if !fault {
		s.last = v
	}
	t := time.Duration(i) * s.cfg.Interval
	// Four decimals: what a real transmitter sends, and short payloads.
	v = math.Round(v*1e4) / 1e4
	return Reading{Sensor: s.sensor, Offset: t, Time: s.cfg.Start.Add(t), Value: v, Fault: fault}, true
}
