package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// DefaultTopic is where readings go: one topic per sensor.
const DefaultTopic = "plant/{sensor}/reading"

// Options says how readings are published.
type Options struct {
	// Topic is the topic of each reading; {sensor} is replaced by the
	// sensor id (default DefaultTopic).
	Topic string
	// QoS of the publishes (default 1, which the broker acknowledges).
	QoS byte
	// Speed is how much faster than real time the series play: 1 is real
	// time, 100 a hundred times faster. 0 publishes as fast as the broker
	// acknowledges.
	Speed float64
	// Count stops after this many readings in all; 0 plays every series to
	// its end.
	Count int
	// MaxInFlight bounds the publishes awaiting the broker's acknowledgement
	// (default 1000): the simulator never runs ahead of the broker by more.
	MaxInFlight int
	// Timeout bounds the wait for one acknowledgement (default 30s).
	Timeout time.Duration
}

// Summary reports what was published.
type Summary struct {
	Readings int           // readings the broker acknowledged (all of them, on success)
	Faulty   int           // of which inside injected faults
	Sensors  int           // sensors that published at least one reading
	Elapsed  time.Duration // from the first publish to the last acknowledgement
}

// Rate is the readings per second achieved.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Readings) / s.Elapsed.Seconds()
}

// Publish plays the series side by side, each from its own first reading,
// in order of their time offsets, and publishes every reading to its
// sensor's topic as JSON {"value": v, "ts": "RFC 3339"} ("fault": true is
// added inside injected faults). It returns once every reading published
// has been acknowledged (QoS 1 and 2), the count is reached or ctx ends.
func Publish(ctx context.Context, client paho.Client, series []Series, opts Options) (Summary, error) {
	if opts.Topic == "" {
		opts.Topic = DefaultTopic
	}
	if !strings.Contains(opts.Topic, "{sensor}") {
		return Summary{}, fmt.Errorf("sim: topic %q has no {sensor}: every sensor needs its own topic", opts.Topic)
	}
	if opts.QoS > 2 {
		return Summary{}, fmt.Errorf("sim: QoS %d: want 0, 1 or 2", opts.QoS)
	}
	if opts.Speed < 0 || math.IsNaN(opts.Speed) || math.IsInf(opts.Speed, 0) {
		return Summary{}, fmt.Errorf("sim: speed %v: want a positive factor, or 0 for as fast as possible", opts.Speed)
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}

	q := &queue{}
	topics := make([]string, len(series))
	for i, s := range series {
		topics[i] = strings.ReplaceAll(opts.Topic, "{sensor}", s.Sensor())
		if r, ok := s.Next(); ok {
			q.items = append(q.items, item{r: r, series: i})
		}
	}
	heap.Init(q)

	var sum Summary
	seen := make([]bool, len(series))
	inflight := make([]paho.Token, 0, opts.MaxInFlight)
	wait := func(toks []paho.Token) error {
		for _, t := range toks {
			if !t.WaitTimeout(opts.Timeout) {
				return fmt.Errorf("sim: the broker did not acknowledge a publish within %s", opts.Timeout)
			}
			if err := t.Error(); err != nil {
				return fmt.Errorf("sim: publish: %w", err)
			}
		}
		return nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	start := time.Now()
	buf := make([]byte, 0, 128)
	for q.Len() > 0 && (opts.Count == 0 || sum.Readings < opts.Count) {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		it := heap.Pop(q).(item)
		if opts.Speed > 0 {
			due := start.Add(time.Duration(float64(it.r.Offset) / opts.Speed))
			if d := time.Until(due); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-ctx.Done():
					return sum, ctx.Err()
				case <-timer.C:
				}
			}
		}
		buf = AppendPayload(buf[:0], it.r)
		// paho keeps the payload until the publish is acknowledged: hand it
		// a copy.
		inflight = append(inflight, client.Publish(topics[it.series], opts.QoS, false, append([]byte(nil), buf...)))
		if len(inflight) == opts.MaxInFlight {
			// Wait for the older half, so that the window keeps moving.
			half := len(inflight) / 2
			if err := wait(inflight[:half]); err != nil {
				return sum, err
			}
			inflight = append(inflight[:0], inflight[half:]...)
		}
		sum.Readings++
		if it.r.Fault {
			sum.Faulty++
		}
		if !seen[it.series] {
			seen[it.series] = true
			sum.Sensors++
		}
		if r, ok := series[it.series].Next(); ok {
			heap.Push(q, item{r: r, series: it.series})
		}
	}
	if err := wait(inflight); err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// AppendPayload appends the JSON payload of r to dst: {"value":v,"ts":"…"},
// plus "fault":true inside an injected fault. A value JSON cannot hold (NaN,
// ±Inf) is written as null.
func AppendPayload(dst []byte, r Reading) []byte {
	dst = append(dst, `{"value":`...)
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendFloat(dst, r.Value, 'g', -1, 64)
	}
	dst = append(dst, `,"ts":"`...)
	dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if r.Fault {
		dst = append(dst, `,"fault":true`...)
	}
	return append(dst, '}')
}

// Connect opens an MQTT client for publishing: a clean session, with paho's
// automatic reconnect so that a broker blip does not end the run.
func Connect(url, clientID string, timeout time.Duration) (paho.Client, error) {
	if url == "" {
		return nil, errors.New("sim: no broker url")
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true).
		SetOrderMatters(false).SetConnectTimeout(timeout).SetAutoReconnect(true).
		SetMaxResumePubInFlight(1000)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(timeout) {
		c.Disconnect(0)
		return nil, fmt.Errorf("sim: connect to %s: no answer within %s", url, timeout)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("sim: connect to %s: %w", url, err)
	}
	return c, nil
}

// item is a series' next reading, waiting its turn.
type item struct {
	r      Reading
	series int
}

// queue orders the next readings of all series by time offset, then by
// series, so that the interleaving is deterministic.
type queue struct{ items []item }

func (q *queue) Len() int { return len(q.items) }
func (q *queue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if a.r.Offset != b.r.Offset {
		return a.r.Offset < b.r.Offset
	}
	return a.series < b.series
}
func (q *queue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *queue) Push(x any)    { q.items = append(q.items, x.(item)) }
func (q *queue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

// ParseSpeed reads a playback speed: "max" (as fast as the broker goes,
// 0), "real" (1), or a factor such as "100x", "100" or "0.5x".
func ParseSpeed(s string) (float64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "max", "":
		return 0, nil
	case "real", "realtime":
		return 1, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "x"), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("speed %q: want max, real, or a positive factor such as 100x", s)
	}
	return f, nil
}
