package anomaly

import "math"

// LikelihoodConfig tunes the anomaly likelihood. Zero fields take the
// defaults in their comments.
type LikelihoodConfig struct {
	// Short is how many recent errors are averaged before they are judged
	// (default 20): one noisy window is not an anomaly, a run of them is.
	// The average of 20 is steadier than that of 5, so its normal fit is
	// tighter and a sustained change stands out with fewer false alarms:
	// +7 NAB standard points on the subset (docs/anomaly.md), on each of
	// three training seeds. Longer averages scored higher still there (30-50)
	// but are late for short faults: a 30-reading stuck sensor went unseen.
	Short int
	// History is how many averaged errors the distribution is estimated
	// from (default 8640, Numenta's: a month of 5-minute readings). A
	// shorter history forgets a rare but normal excursion before it comes
	// back, and alerts on it again: 2000 and 4000 cost 3.5 and 3.3 NAB
	// standard points on the development subset (docs/anomaly.md).
	History int
	// Reestimate is how many updates pass between re-estimates of the
	// distribution (default 100).
	Reestimate int
	// Learn is how many updates are needed before a likelihood is given
	// (default 100); until then the likelihood is 0.5 and Ready is false.
	Learn int
	// MinStd is the floor of the standard deviation of the (log) error
	// (default 0.05), so that an eerily perfect model does not turn
	// rounding noise into alarms.
	MinStd float64
	// OneSided judges only errors above the usual as anomalous. By default
	// (as in Numenta's estimator) an error unusually far below the usual
	// counts too: a sensor that goes flat or stuck is reconstructed too
	// well, and that is as much a change as a shape the model cannot fit.
	OneSided bool
	// TailFloor, when positive, bounds the tail probability of an
	// average from below by TailFloor times the share of the history that
	// was at least as far out (on its side when OneSided): a deviation the
	// stream's own history shows again and again is not a 1-in-10⁵ event,
	// however narrow a normal fit makes it look. A normal fit fits a
	// heavy-tailed signal badly (the rarity of readings is one: a sensor
	// whose spikes recur takes rare values routinely), so one threshold
	// meant different things on different streams. It only tempers
	// likelihoods above tailCheck (never below it), and the history is
	// counted at most once per fit, when first needed.
	TailFloor float64
}

func (c LikelihoodConfig) withDefaults() LikelihoodConfig {
	if c.Short <= 0 {
		c.Short = 20
	}
	if c.History <= 0 {
		c.History = 8640
	}
	if c.Reestimate <= 0 {
		c.Reestimate = 100
	}
	if c.Learn <= 0 {
		c.Learn = 100
	}
	if c.MinStd <= 0 {
		c.MinStd = 0.05
	}
	return c
}

// Likelihood turns a stream of reconstruction errors into a calibrated
// anomaly likelihood, after Numenta's anomaly likelihood (Ahmad et al.,
// 2017): the errors are log-transformed (they are roughly log-normal), the
// last Short are averaged, and the likelihood is the probability that a
// normal variable with the mean and variance of the recent History of such
// averages is below the current one. A likelihood of 0.5 is typical, 0.9999
// is a 1-in-10,000 event. Memory is bounded by History.
type Likelihood struct {
	cfg LikelihoodConfig

	short    []float64 // ring of the last Short log errors
	shortPos int
	shortN   int
	shortSum float64

	hist    []float32 // ring of the last History averages
	histPos int
	histN   int

	mean, std float64
	fitted    int // how many averages the estimate was fitted on
	estimated bool
	since     int // updates since the last estimate
	n         int // updates in all

	gen     int     // estimates made: tail is valid for gen tailGen
	tail    []int32 // the fitted history's deviations, counted (TailFloor; made when first needed)
	tailMax float64 // the largest of them
	tailN   int     // how many were counted
	tailGen int

	rebasing bool // gathering a new model's errors (Rebase)
	fresh    int  // averages gathered since Rebase
}

// NewLikelihood returns an estimator with cfg (defaults filled in).
func NewLikelihood(cfg LikelihoodConfig) *Likelihood {
	cfg = cfg.withDefaults()
	return &Likelihood{cfg: cfg, short: make([]float64, cfg.Short), hist: make([]float32, 0, min(cfg.History, 256))}
}

// Config returns the configuration in use, defaults filled in.
func (l *Likelihood) Config() LikelihoodConfig { return l.cfg }

// Update adds one error and returns the likelihood that the recent errors
// are anomalous, and whether the estimator has learned enough to say so.
func (l *Likelihood) Update(err float64) (likelihood float64, ready bool) {
	if math.IsNaN(err) || err < 0 {
		err = 0
	}
	x := math.Log(err + 1e-6)
	if l.shortN == len(l.short) {
		l.shortSum -= l.short[l.shortPos]
	} else {
		l.shortN++
	}
	l.short[l.shortPos] = x
	l.shortSum += x
	l.shortPos = (l.shortPos + 1) % len(l.short)
	avg := l.shortSum / float64(l.shortN)

	// Judge against the distribution before this value joins it.
	likelihood, ready = 0.5, false
	if l.estimated && l.n >= l.cfg.Learn && !l.rebasing {
		z := l.tToZ((avg - l.mean) / l.std)
		if !l.cfg.OneSided {
			z = math.Abs(z)
		}
		likelihood, ready = normalCDF(z), true
		if l.cfg.TailFloor > 0 && likelihood > tailCheck {
			likelihood = max(tailCheck, min(likelihood, 1-l.cfg.TailFloor*l.tailShare(avg)))
		}
	}

	if l.histN < l.cfg.History {
		l.hist = append(l.hist, float32(avg))
		l.histN++
	} else {
		l.hist[l.histPos] = float32(avg)
		l.histPos = (l.histPos + 1) % l.cfg.History
	}
	l.n++
	l.since++
	if l.rebasing {
		if l.fresh++; l.fresh >= l.cfg.Learn {
			l.shiftOld()
			l.rebasing = false
			l.estimate()
		}
		return likelihood, ready
	}
	if !l.estimated && l.n >= min(l.cfg.Learn, l.cfg.Reestimate) || l.since >= l.cfg.Reestimate {
		l.estimate()
	}
	return likelihood, ready
}

// tToZ maps a deviation t, in standard deviations of a distribution fitted
// to few independent points, to the normal deviate with the same tail: the
// averages of Short errors overlap, so n of them are worth about n/Short
// independent ones, and with few of them (while a sensor is new) a large
// deviation is much less surprising than a normal fit says. The Student-t
// tail with n/Short−1 degrees of freedom is used (n: the averages the
// estimate in use was fitted on, not the history since, which the fit has
// not seen), through the
// approximation z = t·(1 − 1/(4ν)) / √(1 + t²/(2ν)); with a full history it
// is the normal deviate to within a few percent.
// Rebase is told that the errors to come are another model's (an on-device
// update), whose level may differ from the old model's at once. The short
// average starts over and no likelihood is given for the next Learn
// updates; then the history of old averages is shifted by the difference
// between the new ones' mean and theirs, and the fit is redone on both.
// The spread is thus still judged on the long history, not on Learn
// strongly overlapping averages: a fresh fit on so few is narrow, and
// unlike at a stream's start its false alarms would count.
func (l *Likelihood) Rebase() {
	clear(l.short)
	l.shortPos, l.shortN, l.shortSum = 0, 0, 0
	l.rebasing, l.fresh = l.estimated, 0
}

// shiftOld moves the averages before the last l.fresh by the difference
// between the means of the new ones and the old ones.
func (l *Likelihood) shiftOld() {
	n := len(l.hist)
	if l.fresh >= n {
		return
	}
	isNew := func(i int) bool { return (i-l.histPos+n)%n >= n-l.fresh }
	if l.histN < l.cfg.History {
		isNew = func(i int) bool { return i >= n-l.fresh }
	}
	var oldSum, newSum float64
	for i, v := range l.hist {
		if isNew(i) {
			newSum += float64(v)
		} else {
			oldSum += float64(v)
		}
	}
	shift := newSum/float64(l.fresh) - oldSum/float64(n-l.fresh)
	for i := range l.hist {
		if !isNew(i) {
			l.hist[i] += float32(shift)
		}
	}
}

func (l *Likelihood) tToZ(t float64) float64 {
	nu := float64(l.fitted)/float64(l.cfg.Short) - 1
	if nu < 1 {
		nu = 1
	}
	return t * (1 - 1/(4*nu)) / math.Sqrt(1+t*t/(2*nu))
}

// tailCheck is the likelihood (a log score of 0.2, below any useful alert
// threshold) above which TailFloor applies, and below which it never lowers
// one.
const tailCheck = 0.99

// tailShare is the share of the history at least as far from the fitted
// mean as avg (on avg's side when one-sided). The deviations, in fitted standard deviations,
// are counted in bins of tailStep (at most once per fit, when first asked
// after it: one pass over the history as it is then), and the share is read from them,
// linear within a bin: scanning the history at each high likelihood cost
// a noisy sensor more than the rest of its score.
func (l *Likelihood) tailShare(avg float64) float64 {
	if l.tailGen != l.gen {
		l.buildTail()
	}
	z := (avg - l.mean) / l.std
	if !l.cfg.OneSided {
		z = math.Abs(z)
	}
	if l.tailN == 0 || z > l.tailMax {
		return 0
	}
	if z < 0 {
		return 1
	}
	f := z / tailStep
	b := min(int(f), tailBins-1)
	// tail[b] counts bin b and all beyond it.
	above, in := float64(l.tail[b]), float64(l.tail[b])
	if b+1 < tailBins {
		above = float64(l.tail[b+1])
		in -= above
	}
	part := max(0, min(1, float64(b+1)-f)) // share of bin b at or above z
	return (above + part*in) / float64(l.tailN)
}

// Bins of the deviations tailShare counts: tailStep standard deviations
// each, the last holding everything beyond.
const (
	tailStep = 0.05
	tailBins = 400
)

// buildTail counts the fitted history's deviations from its mean
// (absolute unless one-sided; negative ones are not counted) in bins.
func (l *Likelihood) buildTail() {
	l.tailGen = l.gen
	if l.tail == nil {
		l.tail = make([]int32, tailBins)
	}
	clear(l.tail)
	l.tailMax, l.tailN = 0, len(l.hist)
	for _, v := range l.hist {
		z := (float64(v) - l.mean) / l.std
		if !l.cfg.OneSided {
			z = math.Abs(z)
		}
		if z < 0 {
			continue
		}
		l.tail[min(int(z/tailStep), tailBins-1)]++
		l.tailMax = max(l.tailMax, z)
	}
	for b := tailBins - 2; b >= 0; b-- {
		l.tail[b] += l.tail[b+1]
	}
}

func (l *Likelihood) estimate() {
	var s, s2 float64
	for _, v := range l.hist {
		s += float64(v)
	}
	mean := s / float64(len(l.hist))
	for _, v := range l.hist {
		d := float64(v) - mean
		s2 += d * d
	}
	std := 0.0
	if len(l.hist) > 1 {
		std = math.Sqrt(s2 / float64(len(l.hist)-1))
	}
	l.mean, l.std, l.fitted = mean, max(std, l.cfg.MinStd), len(l.hist)
	l.estimated, l.since = true, 0
	l.gen++
}

// Distribution returns the mean and standard deviation of the averaged log
// error as last estimated.
func (l *Likelihood) Distribution() (mean, std float64) { return l.mean, l.std }

func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// LogScore maps a likelihood to [0, 1] on a log scale, as Numenta's
// detector does: 0.99999 → 0.5, 0.9999999999 → 1. Thresholds are easier to
// set on this scale, where the interesting tail is spread out.
func LogScore(likelihood float64) float64 {
	s := math.Log(1.0000000001-likelihood) / math.Log(1-0.9999999999)
	return max(0, min(1, s))
}
