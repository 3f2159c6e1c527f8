package anomaly

import (
	"cmp"
	"math"
)

// DefaultThreshold is the shipped alert threshold: the one a NAB threshold
// sweep over seeds 1–3 chose once for the default settings
// (docs/anomaly.md). The anomaly stage and eval nab's results use it.
const DefaultThreshold = 0.3

// AlertConfig is the alert decision: a threshold on the log-scaled score
// (see LogScore) and a rest period, so that one fault raises one alert.
type AlertConfig struct {
	// Threshold raises an alert when the score reaches it (default 0.5,
	// a likelihood of 0.99999).
	Threshold float64
	// Rest is how many updates after an alert pass before another can be
	// raised, whatever the score does (default DefaultRest). A fault or a
	// non-stationary stretch keeps scoring high for a while; without a rest
	// it alerts again and again, and every repeat outside the fault is a
	// false alarm.
	Rest int
}

// DefaultRest is the default AlertConfig.Rest, the anomaly stage's and
// the example's: chosen by the NAB sweep (docs/anomaly.md; 150 and 220
// scored 0.6 and 1.6 lower), so that `eval nab` without a pipeline file
// runs what the pipeline runs.
const DefaultRest = 300

func (c AlertConfig) withDefaults() AlertConfig {
	if c.Threshold <= 0 {
		c.Threshold = 0.5
	}
	if c.Rest <= 0 {
		c.Rest = DefaultRest
	}
	return c
}

// Alerter decides when a score stream raises an alert: when a score
// reaches Threshold and at least Rest updates have passed since the last
// alert.
type Alerter struct {
	cfg   AlertConfig
	since int // updates since the last alert; large before the first
}

// NewAlerter returns an armed alerter.
func NewAlerter(cfg AlertConfig) *Alerter {
	return &Alerter{cfg: cfg.withDefaults(), since: math.MaxInt32}
}

// Config returns the configuration in use, defaults filled in.
func (a *Alerter) Config() AlertConfig { return a.cfg }

// Active reports whether the alerter is resting after an alert.
func (a *Alerter) Active() bool { return a.since < a.cfg.Rest }

// Update feeds one score and reports whether it raises an alert.
func (a *Alerter) Update(score float64) bool {
	if a.since < math.MaxInt32 {
		a.since++
	}
	if score >= a.cfg.Threshold && a.since >= a.cfg.Rest {
		a.since = 0
		return true
	}
	return false
}

// Score is the verdict on one window.
type Score struct {
	// Error is the reconstruction error (mean squared, normalised units).
	Error float64
	// Likelihood is the probability that recent errors are anomalous.
	Likelihood float64
	// Score is the anomaly score in [0, 1]: the likelihood on a log scale
	// (see LogScore), or 1 for a reading beyond the range seen so far.
	Score float64
	// Ready is false while the error distribution is still being learned;
	// no alert is raised then.
	Ready bool
	// Alert is true for the window that raises an alert.
	Alert bool
}

// ScoreConfig configures a Scorer.
type ScoreConfig struct {
	Likelihood LikelihoodConfig
	Alert      AlertConfig
	// Spatial is the margin, as a fraction of the range of readings seen so
	// far, beyond which a reading outside that range scores 1 (default
	// 0.25; negative turns it off). Numenta's detector uses 0.05, which
	// raised false alarms on a new sensor whose slow cycle or noise tails
	// had not yet shown their full range; on NAB the two score alike.
	Spatial float64
	// Bins, Warmup and HalfLife configure the rarity of readings (see
	// Rarity), whose likelihood is the second half of the score; Bins < 0
	// leaves it out.
	Bins, Warmup, HalfLife int
	// RarityTail is the rarity likelihood's TailFloor (default
	// DefaultRarityTail; negative turns it off): a rarity the sensor's
	// own history keeps showing scores lower.
	RarityTail float64
	// NoModel leaves the reconstruction error out of the score.
	NoModel bool
}

// DefaultRarityTail is the default ScoreConfig.RarityTail: a reading whose
// averaged rarity was matched by at least 0.5% of the sensor's history
// scores at most 0.30. On the NAB subset it raised the leave-one-category-
// out score from 58.7 to 65.5 and the in-sample score at 0.30 from 67.3 to
// 68.3 (docs/anomaly.md, with the other values tried: 0.05-1).
const DefaultRarityTail = 0.2

// Scorer is the per-sensor chain (error, reading) → score → alert. The score
// is the anomaly likelihood of the reconstruction error (see Likelihood) on
// a log scale, raised to 1 when the newest reading leaves the sensor's
// range by more than Spatial of its width. Only the first score of a run of
// likelihoods in the red zone (≥ 0.5, a tail of 1e-5) keeps its value; the
// next ones score 0.3 (a tail of 1e-3), so that a run of high errors reads
// as one event, as in Numenta's detector.
type Scorer struct {
	lik     *Likelihood
	alert   *Alerter
	margin  float64
	lo, hi  float64
	seen    bool
	red     bool // the previous likelihood score was in the red zone
	rar     *Rarity
	rarLik  *Likelihood
	noModel bool
	ready   bool // the error likelihood has been ready once
}

// Red zone of the likelihood score and what a repeat in it is lowered to.
const (
	redZone   = 0.5
	redRepeat = 0.3
)

// NewScorer returns a scorer for one sensor.
func NewScorer(cfg ScoreConfig) *Scorer {
	if cfg.Spatial == 0 {
		cfg.Spatial = 0.25
	}
	s := &Scorer{lik: NewLikelihood(cfg.Likelihood), alert: NewAlerter(cfg.Alert), margin: cfg.Spatial, noModel: cfg.NoModel}
	if cfg.Bins >= 0 {
		s.rar = NewRarity(cmp.Or(cfg.Bins, 32), cmp.Or(cfg.Warmup, 50), cmp.Or(cfg.HalfLife, 2000))
		rl := cfg.Likelihood
		rl.OneSided = true // a reading more common than usual is no anomaly
		rl.TailFloor = cmp.Or(cfg.RarityTail, DefaultRarityTail)
		if rl.TailFloor < 0 {
			rl.TailFloor = 0
		}
		s.rarLik = NewLikelihood(rl)
	}
	return s
}

// Update scores one reconstruction error and the newest reading of its
// window (NaN when unknown: no range check).
func (s *Scorer) Update(err, value float64) Score {
	l, ready := s.lik.Update(err)
	if !ready && s.ready {
		l = 0 // relearning after ModelChanged: the error says nothing yet
	}
	s.ready = s.ready || ready
	ready = s.ready
	out := Score{Error: err, Likelihood: l, Ready: ready}
	if s.noModel {
		out.Likelihood = 0
	}
	if s.rar != nil {
		lr, _ := s.rarLik.Update(s.rar.Update(value))
		out.Likelihood = max(out.Likelihood, lr)
	}
	spatial := s.outside(value)
	if !ready {
		return out
	}
	out.Score = LogScore(out.Likelihood)
	red := out.Score >= redZone
	if red && s.red {
		out.Score = min(out.Score, redRepeat)
	}
	s.red = red
	if spatial {
		out.Score = 1
	}
	out.Alert = s.alert.Update(out.Score)
	return out
}

// ModelChanged tells the scorer that the errors to come are another model's
// (an on-device update swapped in): their level may differ from the old
// model's at once, which the fit of past errors would read as anomalous.
// The error likelihood says nothing until it has seen Learn of the new
// model's errors, then re-bases its history on them (Likelihood.Rebase);
// the rarity and range of readings, which do not depend on the model, keep
// scoring meanwhile.
func (s *Scorer) ModelChanged() { s.lik.Rebase() }

// outside reports whether v is beyond the range seen so far by the margin,
// and widens the range to hold it.
func (s *Scorer) outside(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) || s.margin < 0 {
		return false
	}
	if !s.seen {
		s.lo, s.hi, s.seen = v, v, true
		return false
	}
	pad := s.margin * (s.hi - s.lo)
	out := v > s.hi+pad || v < s.lo-pad
	s.lo, s.hi = min(s.lo, v), max(s.hi, v)
	return out
}
