package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// BenchmarkMQTTToMQTT measures edgeflow between two MQTT hops against the
// broker alone, in one run, interleaved: a load generator publishes
// MQTT_BENCH_MESSAGES (default 100,000) JSON readings from 100 sensors as
// fast as Mosquitto takes them, and a subscriber counts every (sensor, seq)
// it receives — on the input topics directly (broker only: publisher ->
// broker -> subscriber) or on the topics edgeflow republishes to (publisher
// -> broker -> edgeflow mqtt source -> mqtt sink -> broker -> subscriber).
// Edgeflow runs as its own process (the edgeflow binary, json codec,
// defaults otherwise) against a Mosquitto with its default inflight window
// (20) and no queue limit. Each QoS runs MQTT_BENCH_ROUNDS (default 2)
// rounds of broker-only then edgeflow and reports the rate of each side, the
// ratio, loss and duplicates, edgeflow's peak RSS, and the CPU time each
// process spent per message: the broker, edgeflow, and this process (the
// publisher and the subscriber) — with edgeflow in the path the
// single-threaded broker carries every message twice, and on a small
// machine its core can be what limits both paths.
//
//	go test ./test/bench -run '^$' -bench MQTTToMQTT -benchtime 1x -v
//
// MQTT_BENCH_EDGEFLOW names an edgeflow binary to measure instead of one
// built from this tree (to compare with an older build).
func BenchmarkMQTTToMQTT(b *testing.B) {
	bin := os.Getenv("MQTT_BENCH_EDGEFLOW")
	if bin == "" {
		bin = buildEdgeflow(b)
	}
	n := envInt(b, "MQTT_BENCH_MESSAGES", 100000)
	rounds := envInt(b, "MQTT_BENCH_ROUNDS", 2)
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos=%d", qos), func(b *testing.B) {
			mq := brokertest.StartMosquitto(b, brokertest.MosquittoConfig{Extra: os.Getenv("MQTT_BENCH_MOSQUITTO_EXTRA")})
			ef := startEdgeflowMQTT(b, bin, mq.URL(), qos)
			defer ef.stop(b)
			waitForwarding(b, mq.URL(), qos)
			cpu := &cpuWatch{b: b, brokerPid: mq.Pid(), edgePid: ef.cmd.Process.Pid}
			var broker, edge, brokerCore, edgeBrokerCore []float64
			peaks := rssPeaks(ef.cmd.Process.Pid)
			for r := range rounds {
				br := runMQTTLoad(b, mq.URL(), qos, n, "direct", "direct/#", cpu)
				er := runMQTTLoad(b, mq.URL(), qos, n, "in", "out/#", cpu)
				b.Logf("round %d: broker only %.0f msgs/s (lost %d, dup %d); edgeflow %.0f msgs/s (lost %d, dup %d, p50 %.0f ms) = %.2fx",
					r+1, br.rate, br.lost, br.dups, er.rate, er.lost, er.dups, ms(er.p50), er.rate/br.rate)
				b.Logf("round %d CPU: broker only: %v; edgeflow path: %v", r+1, br.cpu, er.cpu)
				brokerCore = append(brokerCore, br.cpu.core(br.cpu.broker))
				edgeBrokerCore = append(edgeBrokerCore, er.cpu.core(er.cpu.broker))
				if br.lost > 0 || er.lost > 0 || er.dups > 0 {
					b.Errorf("round %d: loss or duplicates: broker only lost %d; edgeflow lost %d, duplicated %d", r+1, br.lost, er.lost, er.dups)
				}
				broker, edge = append(broker, br.rate), append(edge, er.rate)
			}
			ratio := 0.0
			for i := range broker {
				ratio += edge[i] / broker[i]
			}
			b.ReportMetric(mean(broker), "broker-msgs/s")
			b.ReportMetric(mean(edge), "edgeflow-msgs/s")
			b.ReportMetric(ratio/float64(len(broker)), "ratio")
			b.ReportMetric(float64(vmHWM(b, ef.cmd.Process.Pid))/1024, "edgeflow-rss-MB")
			anon, file := peaks()
			b.ReportMetric(float64(anon)/1024, "edgeflow-anon-MB")
			b.ReportMetric(float64(file)/1024, "edgeflow-file-MB")
			b.ReportMetric(mean(brokerCore), "mosquitto-cores-broker-only")
			b.ReportMetric(mean(edgeBrokerCore), "mosquitto-cores-edgeflow")
		})
	}
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func buildEdgeflow(b *testing.B) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "edgeflow")
	build := exec.Command("go", "build", "-o", bin, "./cmd/edgeflow")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// edgeflowProc is an edgeflow child process.
type edgeflowProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startEdgeflowMQTT(b *testing.B, bin, url string, qos byte) *edgeflowProc {
	yaml := fmt.Sprintf(`name: mqtt-bridge
connections:
  plant: {type: mqtt, url: %q, client_id: bench-bridge}
sources:
  readings: {type: mqtt, connection: plant, topics: [in/+], qos: %d, key: {topic_token: 2}}
sinks:
  forward: {type: mqtt, connection: plant, input: readings, topic: "out/{key}", qos: %d}
`, url, qos, qos)
	return startEdgeflowYAML(b, bin, yaml)
}

func startEdgeflowYAML(b *testing.B, bin, yaml string) *edgeflowProc {
	path := filepath.Join(b.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	p := &edgeflowProc{cmd: exec.Command(bin, "run", path), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p
}

func (p *edgeflowProc) stop(b *testing.B) {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		b.Errorf("edgeflow did not stop on SIGINT\n%s", tail(p.stderr.String()))
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitForwarding publishes probes until edgeflow forwards one.
func waitForwarding(b *testing.B, url string, qos byte) {
	var got atomic.Bool
	sub := connectMQTT(b, url, "bench-probe-sub", true)
	defer sub.Disconnect(100)
	sub.Subscribe("out/probe", qos, func(paho.Client, paho.Message) { got.Store(true) }).Wait()
	pub := connectMQTT(b, url, "bench-probe-pub", true)
	defer pub.Disconnect(100)
	waitUntil(b, "edgeflow to forward a probe", 30*time.Second, func() bool {
		pub.Publish("in/probe", qos, false, []byte(`{"sensor":"probe","seq":0}`)).WaitTimeout(time.Second)
		time.Sleep(50 * time.Millisecond)
		return got.Load()
	})
	time.Sleep(200 * time.Millisecond) // let stray probes land
}

type loadResult struct {
	rate       float64
	lost, dups int
	p50        time.Duration
	cpu        cpuUse
}

// runMQTTLoad publishes n readings from 100 sensors on prefix/<sensor> and
// counts them arriving on filter.
func runMQTTLoad(b *testing.B, url string, qos byte, n int, prefix, filter string, cpu *cpuWatch) loadResult {
	const sensors = 100
	perSensor := (n + sensors - 1) / sensors
	n = perSensor * sensors
	seen := make([]bool, n)
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	var unique, dups int
	var last time.Time
	all := make(chan struct{})
	id := fmt.Sprintf("bench-counter-%d", time.Now().UnixNano())
	sub := connectMQTT(b, url, id, true)
	defer sub.Disconnect(100)
	tok := sub.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
		s, seq, sent, ok := parseReading(m.Payload())
		if !ok {
			return
		}
		i := s*perSensor + seq
		if i < 0 || i >= n {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if seen[i] {
			dups++
			return
		}
		seen[i] = true
		unique++
		last = now
		lat = append(lat, now.Sub(time.Unix(0, sent)))
		if unique == n {
			close(all)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := connectMQTT(b, url, id+"-pub", true)
	defer pub.Disconnect(100)
	topics := make([]string, sensors)
	for s := range topics {
		topics[s] = fmt.Sprintf("%s/s%d", prefix, s)
	}
	cpu.start()
	start := time.Now()
	var tokens []paho.Token
	buf := make([]byte, 0, 128)
	for seq := range perSensor {
		for s := range sensors {
			buf = buf[:0]
			buf = fmt.Appendf(buf, `{"sensor":"s%d","seq":%d,"ts":%d,"value":%.2f}`, s, seq, time.Now().UnixNano(), 20+float64(seq%50)/10)
			tokens = append(tokens, pub.Publish(topics[s], qos, false, bytes.Clone(buf)))
			if len(tokens) == 1000 {
				waitTokens(b, tokens)
				tokens = tokens[:0]
			}
		}
	}
	waitTokens(b, tokens)
	// Wait until everything arrived, or nothing new arrived for 15 s.
	prev, stall := -1, time.Now()
wait:
	for {
		select {
		case <-all:
			break wait
		case <-time.After(200 * time.Millisecond):
		}
		mu.Lock()
		u := unique
		mu.Unlock()
		if u != prev {
			prev, stall = u, time.Now()
		} else if time.Since(stall) > 15*time.Second {
			break
		}
	}
	mu.Lock()
	r := loadResult{cpu: cpu.stop(last.Sub(start), unique)}
	mu.Unlock()
	time.Sleep(300 * time.Millisecond) // late duplicates
	mu.Lock()
	defer mu.Unlock()
	r.lost, r.dups = n-unique, dups
	if unique > 0 {
		r.rate = float64(unique) / last.Sub(start).Seconds()
		slices.Sort(lat)
		r.p50 = lat[len(lat)/2]
	}
	return r
}

// parseReading pulls sensor index, seq and ts out of a reading as the load
// generator writes it (or as edgeflow's json codec re-encodes it: members
// in any order).
func parseReading(p []byte) (sensor, seq int, ts int64, ok bool) {
	sv, ok1 := jsonMember(p, `"sensor":"s`)
	qv, ok2 := jsonMember(p, `"seq":`)
	tv, ok3 := jsonMember(p, `"ts":`)
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, 0, false
	}
	s, err1 := strconv.Atoi(sv)
	q, err2 := strconv.Atoi(qv)
	t, err3 := strconv.ParseFloat(tv, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return s, q, int64(t), true
}

func jsonMember(p []byte, key string) (string, bool) {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return "", false
	}
	p = p[i+len(key):]
	j := 0
	for j < len(p) && (p[j] == '-' || p[j] == '.' || p[j] == 'e' || p[j] == '+' || (p[j] >= '0' && p[j] <= '9')) {
		j++
	}
	return string(p[:j]), j > 0
}
