package anomaly

// liveSensors bounds how many sensors' scores are kept for the dashboard
// between two takes.
const liveSensors = 64

// liveScore is what a sensor scored since the dashboard last looked.
type liveScore struct {
	max    float64
	alerts int
}

// noteScore records a ready score for TakeScores. The caller holds s.mu.
func (s *Stage) noteScore(key string, score float64, alert bool) {
	ls, ok := s.live[key]
	if !ok {
		if len(s.live) >= liveSensors {
			return
		}
		if s.live == nil {
			s.live = map[string]*liveScore{}
		}
		ls = &liveScore{max: score}
		s.live[key] = ls
	}
	ls.max = max(ls.max, score)
	if alert {
		ls.alerts++
	}
}

// TakeScores hands the dashboard each sensor's largest score and its alerts
// since the last call (admin.ScoreTaker), and starts over.
func (s *Stage) TakeScores(fn func(sensor string, maxScore float64, alerts int)) {
	s.mu.Lock()
	live := s.live
	s.live = nil
	s.mu.Unlock()
	for key, ls := range live {
		fn(key, ls.max, ls.alerts)
	}
}
