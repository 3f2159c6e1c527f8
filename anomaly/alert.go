package anomaly

// AlertConfig is the alert decision: a threshold on the log-scaled score
// (see LogScore) with hysteresis, so that one fault raises one alert.
type AlertConfig struct {
	// Threshold raises an alert when the score reaches it (default 0.5,
	// a likelihood of 0.99999).
	Threshold float64
	// Release re-arms the alerter once the score has stayed below it for
	// Cooldown updates (default: 0.6 × Threshold).
	Release float64
	// Cooldown is how many consecutive updates below Release re-arm
	// (default 20).
	Cooldown int
	// Refractory is the least number of updates between two alerts, however
	// the score moves (default 0: only hysteresis applies).
	Refractory int
}

func (c AlertConfig) withDefaults() AlertConfig {
	if c.Threshold <= 0 {
		c.Threshold = 0.5
	}
	if c.Release <= 0 || c.Release > c.Threshold {
		c.Release = 0.6 * c.Threshold
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 20
	}
	return c
}

// Alerter decides when a score stream raises an alert. It is armed at
// first; a score at or above Threshold raises an alert and disarms it; it
// re-arms after Cooldown consecutive scores below Release, and no sooner
// than Refractory updates after the last alert.
type Alerter struct {
	cfg      AlertConfig
	disarmed bool
	below    int // consecutive updates below Release while disarmed
	since    int // updates since the last alert
}

// NewAlerter returns an armed alerter.
func NewAlerter(cfg AlertConfig) *Alerter { return &Alerter{cfg: cfg.withDefaults()} }

// Config returns the configuration in use, defaults filled in.
func (a *Alerter) Config() AlertConfig { return a.cfg }

// Active reports whether an alert is in progress (raised and not re-armed).
func (a *Alerter) Active() bool { return a.disarmed }

// Update feeds one score and reports whether it raises an alert.
func (a *Alerter) Update(score float64) bool {
	a.since++
	if a.disarmed {
		if score < a.cfg.Release {
			a.below++
		} else {
			a.below = 0
		}
		if a.below >= a.cfg.Cooldown && a.since >= a.cfg.Refractory {
			a.disarmed, a.below = false, 0
		}
		return false
	}
	if score >= a.cfg.Threshold && a.since >= a.cfg.Refractory {
		a.disarmed, a.below, a.since = true, 0, 0
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
	// Score is the likelihood on a log scale in [0, 1] (see LogScore).
	Score float64
	// Ready is false while the error distribution is still being learned;
	// no alert is raised then.
	Ready bool
	// Alert is true for the window that raises an alert.
	Alert bool
}

// Scorer is the per-sensor chain error → likelihood → alert.
type Scorer struct {
	lik   *Likelihood
	alert *Alerter
}

// NewScorer returns a scorer for one sensor.
func NewScorer(lc LikelihoodConfig, ac AlertConfig) *Scorer {
	return &Scorer{lik: NewLikelihood(lc), alert: NewAlerter(ac)}
}

// Update scores one reconstruction error.
func (s *Scorer) Update(err float64) Score {
	l, ready := s.lik.Update(err)
	out := Score{Error: err, Likelihood: l, Score: LogScore(l), Ready: ready}
	if ready {
		out.Alert = s.alert.Update(out.Score)
	} else {
		out.Score = 0
	}
	return out
}
