package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/edgeflow/edgeflow/anomaly/sim"
	"github.com/edgeflow/edgeflow/internal/anomalytest"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

// BenchmarkAnomalyDemo runs examples/anomaly/pipeline.yaml as shipped, in
// the edgeflow binary pinned to one core (`taskset -c 1`, GOMAXPROCS=1),
// between a real mosquitto (readings in) and a real nats-server with
// JetStream (alerts out), and reports:
//
//   - paced-*: simulated machines (three sensors each, injected faults)
//     published at a fixed rate (ANOMALY_BENCH_RATE, default 30,000
//     readings/s): whether edgeflow keeps up (lag-ms: how long after the
//     last publish the last window is scored) and the alert latency, from
//     the publish of the reading that completes an alert's window to the
//     alert's arrival on NATS (each alert names its sensor and the reading's
//     time, so every alert is matched to its reading);
//   - max-readings/s: the same load published as fast as mosquitto takes
//     it, scored readings per second from the first publish to the last
//     window scored;
//   - *-readings/cpu-s: readings per CPU second of the edgeflow process
//     (user + system time from /proc/PID/stat over the phase): what one
//     core would sustain, whatever else the machine runs;
//   - rss-MB: the edgeflow process's peak resident memory (VmHWM).
//
// Mosquitto lets ANOMALY_BENCH_INFLIGHT (default 1000) messages be in
// flight to edgeflow. b.N is ignored beyond the first iteration: the workload is fixed (set
// ANOMALY_BENCH_MACHINES, default 20, i.e. 60 sensors x 3000 readings per
// phase).
//
// ANOMALY_BENCH_BINS=name=path,name=path compares prebuilt binaries instead
// of building the tree: ANOMALY_BENCH_ROUNDS (default 1) rounds, the binaries
// alternating within each round, each run with brokers of its own.
//
//	go test ./test/bench -run '^$' -bench AnomalyDemo -benchtime 1x -v
func BenchmarkAnomalyDemo(b *testing.B) {
	if _, err := exec.LookPath("taskset"); err != nil {
		b.Skip("taskset not found: cannot pin edgeflow to one core")
	}
	root, err := filepath.Abs("../..") // the repository root
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	model := benchModel(b, root, dir)
	bins := os.Getenv("ANOMALY_BENCH_BINS")
	if bins == "" {
		bin := filepath.Join(dir, "edgeflow")
		build := exec.Command("go", "build", "-o", bin, "./cmd/edgeflow")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
		runAnomalyDemo(b, root, bin, model)
		return
	}
	rounds := envInt(b, "ANOMALY_BENCH_ROUNDS", 1)
	for r := range rounds {
		for _, nb := range strings.Split(bins, ",") {
			name, bin, ok := strings.Cut(nb, "=")
			if !ok {
				b.Fatalf("ANOMALY_BENCH_BINS: %q is not name=path", nb)
			}
			b.Run(fmt.Sprintf("%s/round%d", name, r+1), func(b *testing.B) { runAnomalyDemo(b, root, bin, model) })
		}
	}
}

func runAnomalyDemo(b *testing.B, root, bin, model string) {
	machines := envInt(b, "ANOMALY_BENCH_MACHINES", 20)
	rate := envInt(b, "ANOMALY_BENCH_RATE", 30000)
	mq := brokertest.StartMosquitto(b, brokertest.MosquittoConfig{MaxInflight: envInt(b, "ANOMALY_BENCH_INFLIGHT", 1000)})
	ns := brokertest.StartNATS(b, brokertest.NATSConfig{JetStream: true})
	metrics := freePort(b)

	nc, err := nats.Connect(ns.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	col := &alertCollector{}
	sub, err := nc.Subscribe("plant.alerts.>", col.add)
	if err != nil {
		b.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	nc.Flush()

	args := []string{"-c", "1", bin, "run", "--metrics-listen", metrics, filepath.Join(root, "examples/anomaly/pipeline.yaml")}
	if prof := os.Getenv("ANOMALY_BENCH_CPUPROFILE"); prof != "" {
		args = append(args, "--cpuprofile", prof)
	}
	cmd := exec.Command("taskset", args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "MQTT_URL="+mq.URL(), "NATS_URL="+ns.URL(),
		"ANOMALY_MODEL="+model, "MQTT_CLIENT_ID=bench-anomaly-edgeflow")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	probed := make(chan struct{})
	var scan sync.WaitGroup
	scan.Go(func() {
		// The dead-letter sink prints the probe; alerts go to the console.
		s := bufio.NewScanner(stdout)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for s.Scan() {
			if strings.Contains(s.Text(), "bench-probe") {
				once.Do(func() { close(probed) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	})
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { scan.Wait(); done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("edgeflow: %v\n%s", err, tail(stderr.String()))
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			b.Errorf("edgeflow did not stop within 60s")
		}
	}
	defer stop()
	waitUntil(b, "edgeflow /readyz", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + metrics + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	pub := connectMQTT(b, mq.URL(), "bench-anomaly-sim", true)
	defer pub.Disconnect(100)
	waitUntil(b, "the pipeline's subscription", 30*time.Second, func() bool {
		pub.Publish("plant/bench-probe/reading", 1, false, "probe, not JSON").WaitTimeout(time.Second)
		select {
		case <-probed:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})

	b.ResetTimer()
	windows := 0.0 // windows the window stage makes, over both phases
	for phase, paced := range []bool{true, false} {
		load := machineLoad(b, fmt.Sprintf("p%d", phase), machines)
		windows += float64(load.windows)
		cpu0, wait0 := cpuTime(b, cmd.Process.Pid), runqueueWait(cmd.Process.Pid)
		sent := publishLoad(b, pub, load, map[bool]int{true: rate, false: 0}[paced])
		first, last := sent[0], sent[len(sent)-1]
		// Polled every 50 ms, not 20: each scrape costs edgeflow's core
		// ~0.1 ms, which would count in its CPU time.
		for deadline := time.Now().Add(120 * time.Second); !scored(metrics, windows); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("timed out after 2m waiting for every window to be scored")
			}
		}
		doneAt := time.Now()
		cpu := (cpuTime(b, cmd.Process.Pid) - cpu0).Seconds()
		perCPU := float64(len(load.readings)) / cpu
		// Time edgeflow's threads were runnable but not running: the share
		// of the phase the machine's other jobs took from it.
		starved := (runqueueWait(cmd.Process.Pid) - wait0).Seconds() / doneAt.Sub(first).Seconds()
		if paced {
			b.ReportMetric(starved, "paced-runq-wait/s")
			b.ReportMetric(perCPU, "paced-readings/cpu-s")
			time.Sleep(time.Second) // the last alerts on their way
			lat := col.latencies(load.published)
			b.ReportMetric(float64(len(load.readings))/last.Sub(first).Seconds(), "paced-readings/s")
			b.ReportMetric(float64(doneAt.Sub(last).Milliseconds()), "paced-lag-ms")
			b.ReportMetric(float64(len(lat)), "paced-alerts")
			if len(lat) > 0 {
				b.ReportMetric(ms(lat[len(lat)/2]), "paced-p50-ms")
				b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "paced-p99-ms")
				b.ReportMetric(ms(lat[len(lat)-1]), "paced-max-ms")
			}
		} else {
			b.ReportMetric(starved, "max-runq-wait/s")
			b.ReportMetric(perCPU, "max-readings/cpu-s")
			b.ReportMetric(float64(len(load.readings))/doneAt.Sub(first).Seconds(), "max-readings/s")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(vmHWM(b, cmd.Process.Pid))/1024, "rss-MB")
	stop()
}

// scored reports whether the pipeline has scored every window: the window
// stage's windows all reached the normalize stage, and the detect stage has
// taken every window normalize passed on (it drops each sensor's warm-up
// windows).
func scored(metrics string, windows float64) bool {
	normIn := scrape(metrics, "edgeflow_node_received_total", "normalize")
	if normIn < windows {
		return false
	}
	return scrape(metrics, "edgeflow_node_received_total", "detect") >= scrape(metrics, "edgeflow_node_emitted_total", "normalize")
}

// cpuTime reads a process's user + system CPU time from /proc/PID/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// load is the readings of a set of simulated machines, interleaved as
// they would be sampled, with their publish times once published.
type load struct {
	readings  []sim.Reading
	windows   int                  // windows the window stage makes
	published map[string]time.Time // by sensor and reading time
}

func machineLoad(b *testing.B, prefix string, machines int) *load {
	l := &load{published: map[string]time.Time{}}
	var series []sim.Series
	for i := range machines {
		s, _, err := sim.Machine(sim.MachineConfig{Name: fmt.Sprintf("%s-m%02d", prefix, i), Seed: uint64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		series = append(series, s...)
	}
	perSensor := 0
	for more := true; more; {
		more = false
		for _, s := range series {
			if r, ok := s.Next(); ok {
				l.readings, more = append(l.readings, r), true
			}
		}
		perSensor++
	}
	// Each sensor: size-1 readings before its first window (size 16, step 1).
	l.windows = len(series) * max(0, (perSensor-1)-15)
	return l
}

// publishLoad publishes every reading at QoS 1, rate per second (0: as
// fast as mosquitto acknowledges), recording when each was sent. It
// returns the send times in order.
func publishLoad(b *testing.B, pub paho.Client, l *load, rate int) []time.Time {
	sent := make([]time.Time, len(l.readings))
	var toks []paho.Token
	buf := make([]byte, 0, 128)
	start := time.Now()
	for i, r := range l.readings {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
			}
		}
		buf = sim.AppendPayload(buf[:0], r)
		sent[i] = time.Now()
		l.published[alertKey(r.Sensor, r.Time)] = sent[i]
		toks = append(toks, pub.Publish("plant/"+r.Sensor+"/reading", 1, false, append([]byte(nil), buf...)))
		if len(toks) == 1000 {
			waitTokens(b, toks[:500])
			toks = append(toks[:0], toks[500:]...)
		}
	}
	waitTokens(b, toks)
	return sent
}

func alertKey(sensor string, t time.Time) string {
	return sensor + "|" + strconv.FormatInt(t.UnixNano(), 10)
}

// alertCollector records when each alert arrived.
type alertCollector struct {
	mu      sync.Mutex
	arrived map[string]time.Time
}

func (c *alertCollector) add(m *nats.Msg) {
	now := time.Now()
	var a struct {
		Sensor string `json:"sensor"`
		Time   string `json:"time"`
	}
	if json.Unmarshal(m.Data, &a) != nil {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, a.Time)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.arrived == nil {
		c.arrived = map[string]time.Time{}
	}
	c.arrived[alertKey(a.Sensor, t)] = now
}

// latencies returns, sorted, the latency of every alert about a reading
// in published.
func (c *alertCollector) latencies(published map[string]time.Time) []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for k, at := range c.arrived {
		if sent, ok := published[k]; ok {
			out = append(out, at.Sub(sent))
		}
	}
	slices.Sort(out)
	return out
}

// benchModel trains the example's int8 model as demo.sh does (synthetic
// series, seed 1) and returns its path.
func benchModel(b *testing.B, _, dir string) string {
	modeltest.RequireRuntime(b)
	return anomalytest.Model(b, dir)
}

// scrape returns the sum of a counter's samples for one node.
func scrape(addr, metric, node string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sum := 0.0
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, metric+"{") || !strings.Contains(line, `node="`+node+`"`) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// runqueueWait sums how long a process's threads have waited on a run
// queue (the second field of /proc/PID/task/TID/schedstat).
func runqueueWait(pid int) time.Duration {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread has exited
		}
		if f := strings.Fields(string(data)); len(f) >= 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// vmHWM reads a process's peak resident set size in kB.
func vmHWM(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

func freePort(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitUntil(b *testing.B, what string, limit time.Duration, cond func() bool) {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
