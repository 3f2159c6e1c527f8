package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, brokertest.IgnorePahoDisconnect) }

func drain(s Series) []Reading {
	var out []Reading
	for {
		r, ok := s.Next()
		if !ok {
			return out
		}
		out = append(out, r)
	}
}

func TestMachineIsDeterministicAndLabelsItsFaults(t *testing.T) {
	cfg := MachineConfig{Name: "m", Readings: 2500, Quiet: 600, Every: 300, Length: 20, Seed: 7}
	a, faults, err := Machine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Machine(cfg)
	if len(a) != 3 || a[0].Sensor() != "m-temp" || a[1].Sensor() != "m-vibration" || a[2].Sensor() != "m-current" {
		t.Fatalf("sensors %v", a)
	}
	// 600, 900, ..., 2400: 7 faults, every kind at least once.
	if len(faults) != 7 {
		t.Fatalf("%d faults: %+v", len(faults), faults)
	}
	kinds := map[string]bool{}
	for _, f := range faults {
		kinds[f.Kind] = true
	}
	if len(kinds) != len(FaultKinds) {
		t.Fatalf("kinds %v: want all of %v", kinds, FaultKinds)
	}
	for i := range a {
		ra, rb := drain(a[i]), drain(b[i])
		if len(ra) != 2500 {
			t.Fatalf("%d readings", len(ra))
		}
		for k := range ra {
			if ra[k] != rb[k] {
				t.Fatalf("reading %d differs between two runs: %+v %+v", k, ra[k], rb[k])
			}
		}
		for _, f := range faults {
			if f.Sensor != a[i].Sensor() {
				continue
			}
			for k := f.From - 2; k <= f.To+2; k++ {
				if want := k >= f.From && k <= f.To; ra[k].Fault != want {
					t.Fatalf("%s reading %d: fault label %v, want %v (fault %+v)", f.Sensor, k, ra[k].Fault, want, f)
				}
			}
			before := ra[f.From-1].Value
			switch f.Kind {
			case Stuck:
				for k := f.From; k <= f.To; k++ {
					if ra[k].Value != before {
						t.Fatalf("stuck reading %d is %v, want %v", k, ra[k].Value, before)
					}
				}
			case Cutout:
				if ra[f.From].Value != 0 {
					t.Fatalf("cutout reading %v", ra[f.From].Value)
				}
			case Spike:
				if math.Abs(ra[f.From].Value-before) < 2*machineSignals[i].amp {
					t.Fatalf("spike %v after %v is not a spike", ra[f.From].Value, before)
				}
			}
			if !ra[f.From].Time.Equal(f.Start) {
				t.Fatalf("fault starts at %v, its first reading is at %v", f.Start, ra[f.From].Time)
			}
		}
	}
	if _, _, err := Machine(MachineConfig{Kinds: []string{"melt"}}); err == nil {
		t.Fatal("unknown fault kind: want an error")
	}
}

func writeCSV(t *testing.T, path string, rows int, start time.Time, step time.Duration) {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range rows {
		fmt.Fprintf(&b, "%s,%d\n", start.Add(time.Duration(i)*step).Format("2006-01-02 15:04:05"), i)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNABFilesAndSeries(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	writeCSV(t, filepath.Join(dir, "a", "x y.csv"), 10, t0, 5*time.Minute)
	writeCSV(t, filepath.Join(dir, "a", "z.csv"), 4, t0, time.Minute)
	writeCSV(t, filepath.Join(dir, "b", "w.csv"), 3, t0, time.Minute)
	files, err := NABFiles([]string{filepath.Join(dir, "a"), filepath.Join(dir, "*", "*.csv")})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || filepath.Base(files[2]) != "w.csv" {
		t.Fatalf("files %v: want the folder's two, then the glob's new one", files)
	}
	s, err := NAB(files[0])
	if err != nil {
		t.Fatal(err)
	}
	rows := drain(s)
	if s.Sensor() != "x_y" || len(rows) != 10 || rows[9].Value != 9 || rows[9].Offset != 45*time.Minute {
		t.Fatalf("sensor %q rows %d last %+v", s.Sensor(), len(rows), rows[len(rows)-1])
	}
	if _, err := NABFiles([]string{filepath.Join(dir, "nope.csv")}); err == nil {
		t.Fatal("missing file: want an error")
	}
	if _, err := NAB(filepath.Join(dir, "a")); err == nil {
		t.Fatal("a folder is not a CSV: want an error")
	}
}

func TestParseSpeed(t *testing.T) {
	for in, want := range map[string]float64{"max": 0, "real": 1, "100x": 100, "2.5": 2.5, "0.5x": 0.5} {
		got, err := ParseSpeed(in)
		if err != nil || got != want {
			t.Errorf("ParseSpeed(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "-3x", "0", "x", "NaN"} {
		if _, err := ParseSpeed(bad); err == nil {
			t.Errorf("ParseSpeed(%q): want an error", bad)
		}
	}
}

func TestAppendPayload(t *testing.T) {
	r := Reading{Value: 1.5, Time: time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC), Fault: true}
	if got := string(AppendPayload(nil, r)); got != `{"value":1.5,"ts":"2024-01-01T00:00:01Z","fault":true}` {
		t.Fatal(got)
	}
	r.Value, r.Fault = math.NaN(), false
	var v map[string]any
	if err := json.Unmarshal(AppendPayload(nil, r), &v); err != nil || v["value"] != nil {
		t.Fatalf("NaN payload %v %v", v, err)
	}
}

// subscriber collects what arrives on plant/# from a real broker.
type subscriber struct {
	mu     sync.Mutex
	topics map[string][]map[string]any
	n      int
}

func subscribe(t *testing.T, url string) (*subscriber, func()) {
	t.Helper()
	s := &subscriber{topics: map[string][]map[string]any{}}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("sim-test-sub").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	tok := c.Subscribe("plant/#", 1, func(_ paho.Client, m paho.Message) {
		var v map[string]any
		if err := json.Unmarshal(m.Payload(), &v); err != nil {
			v = map[string]any{"bad": string(m.Payload())}
		}
		s.mu.Lock()
		s.topics[m.Topic()] = append(s.topics[m.Topic()], v)
		s.n++
		s.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return s, func() { c.Disconnect(100) }
}

func (s *subscriber) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		got := s.n
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d readings arrived", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishToMosquitto(t *testing.T) {
	mq := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	sub, stop := subscribe(t, mq.URL())
	defer stop()

	dir := t.TempDir()
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	writeCSV(t, filepath.Join(dir, "tank_level.csv"), 500, t0, 5*time.Minute)
	nabSeries, err := NAB(filepath.Join(dir, "tank_level.csv"))
	if err != nil {
		t.Fatal(err)
	}
	m1, faults1, _ := Machine(MachineConfig{Name: "m1", Readings: 400, Quiet: 100, Every: 100, Seed: 1})
	m2, faults2, _ := Machine(MachineConfig{Name: "m2", Readings: 400, Quiet: 100, Every: 100, Seed: 2})
	series := append(append([]Series{nabSeries}, m1...), m2...)

	client, err := Connect(mq.URL(), "sim-test-pub", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(100)
	sum, err := Publish(context.Background(), client, series, Options{QoS: 1, MaxInFlight: 64})
	if err != nil {
		t.Fatal(err)
	}
	want := 500 + 6*400
	if sum.Readings != want || sum.Sensors != 7 {
		t.Fatalf("summary %+v: want %d readings from 7 sensors", sum, want)
	}
	faulty := 0
	for _, f := range append(faults1, faults2...) {
		faulty += f.To - f.From + 1
	}
	if sum.Faulty != faulty {
		t.Fatalf("%d faulty readings, the schedule has %d", sum.Faulty, faulty)
	}
	sub.wait(t, want)

	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.topics) != 7 || len(sub.topics["plant/tank_level/reading"]) != 500 || len(sub.topics["plant/m2-current/reading"]) != 400 {
		t.Fatalf("topics: %d, tank_level %d", len(sub.topics), len(sub.topics["plant/tank_level/reading"]))
	}
	for topic, rows := range sub.topics {
		prev := ""
		for i, r := range rows {
			ts, _ := r["ts"].(string)
			if _, ok := r["value"].(float64); !ok || ts <= prev {
				t.Fatalf("%s reading %d: %v after ts %q (want a number, in time order)", topic, i, r, prev)
			}
			prev = ts
		}
	}
	if got := sub.topics["plant/tank_level/reading"][499]["value"]; got != 499.0 {
		t.Fatalf("last NAB value %v", got)
	}
}

func TestPublishCountAndPace(t *testing.T) {
	mq := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	sub, stop := subscribe(t, mq.URL())
	defer stop()
	client, err := Connect(mq.URL(), "sim-test-pace", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(100)

	// Three sensors at one reading a second, played 1000x: 600 readings
	// span 199 s of sensor time, so at least 0.199 s of wall time.
	m, _, _ := Machine(MachineConfig{Name: "p", Readings: 10000})
	sum, err := Publish(context.Background(), client, m, Options{Speed: 1000, Count: 600})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Readings != 600 || sum.Elapsed < 199*time.Millisecond {
		t.Fatalf("summary %+v: want 600 readings over at least 199ms", sum)
	}
	sub.wait(t, 600)

	// A cancelled context stops publishing at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, _, _ = Machine(MachineConfig{Name: "q"})
	if _, err := Publish(ctx, client, m, Options{Speed: 1}); err == nil {
		t.Fatal("cancelled: want an error")
	}
	if _, err := Publish(context.Background(), client, m, Options{Topic: "plant/all"}); err == nil {
		t.Fatal("a topic without {sensor}: want an error")
	}
}
