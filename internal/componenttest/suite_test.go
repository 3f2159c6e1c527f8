package componenttest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// memBroker is an in-memory broker with acknowledgements, to test the
// source suite itself: a delivered message stays unacknowledged until its
// consumer acks it, a nacked one is queued again, and a consumer that stops
// hands back what it did not acknowledge.
type memBroker struct {
	mu       sync.Mutex
	queue    []int
	unacked  map[int]bool
	wake     chan struct{}
	earlyAck bool // the bug the suite must catch: ack on receipt
}

func newMemBroker(earlyAck bool) *memBroker {
	return &memBroker{unacked: map[int]bool{}, wake: make(chan struct{}, 1), earlyAck: earlyAck}
}

func (b *memBroker) push(seqs ...int) {
	b.mu.Lock()
	b.queue = append(b.queue, seqs...)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *memBroker) next() (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		return 0, false
	}
	seq := b.queue[0]
	b.queue = b.queue[1:]
	if !b.earlyAck {
		b.unacked[seq] = true
	}
	return seq, true
}

func (b *memBroker) settle(token any, err error) {
	seq := token.(int)
	b.mu.Lock()
	was := b.unacked[seq]
	delete(b.unacked, seq)
	b.mu.Unlock()
	if err != nil && was {
		b.push(seq)
	}
}

// handBack queues again what a stopped consumer left unacknowledged.
func (b *memBroker) handBack() {
	b.mu.Lock()
	var back []int
	for seq := range b.unacked {
		back = append(back, seq)
	}
	clear(b.unacked)
	b.mu.Unlock()
	slices.Sort(back)
	b.push(back...)
}

func (b *memBroker) Run(ctx context.Context, out pipeline.SourceOutput) error {
	for {
		seq, ok := b.next()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-b.wake:
				continue
			}
		}
		m := pipeline.NewMessage(Payload(seq))
		m.Fields = map[string]any{"seq": seq}
		m.Track(b.settle, seq)
		if err := out.Emit(m); err != nil {
			return err
		}
	}
}

func memHarness(earlyAck bool) func(*testing.T) SourceHarness {
	return func(*testing.T) SourceHarness {
		b := newMemBroker(earlyAck)
		return SourceHarness{
			Features: SourceFeatures{Acknowledges: true, Resumes: true, Ordered: true, RedeliveryTimeout: time.Second},
			Publish:  func(_ *testing.T, seqs ...int) { b.push(seqs...) },
			New:      func(*testing.T) (pipeline.Source, func()) { return b, b.handBack },
			Unacked: func(*testing.T) int {
				b.mu.Lock()
				defer b.mu.Unlock()
				return len(b.unacked)
			},
		}
	}
}

// A source that acknowledges after delivery passes the suite.
func TestSourceSuitePasses(t *testing.T) { TestSource(t, memHarness(false)) }

// The suite fails a source that acknowledges on receipt. It is run in a
// child process, since a failing test cannot be run inside a passing one.
func TestSourceSuiteCatchesEarlyAck(t *testing.T) {
	if os.Getenv("COMPONENTTEST_EARLY_ACK") == "1" {
		TestSource(t, memHarness(true))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSourceSuiteCatchesEarlyAck$", "-test.v")
	cmd.Env = append(os.Environ(), "COMPONENTTEST_EARLY_ACK=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a source that acknowledges on receipt:\n%s", out)
	}
	for _, want := range []string{"--- FAIL: TestSourceSuiteCatchesEarlyAck/AcknowledgesOnlyAfterDelivery",
		"acknowledged before delivery", "--- FAIL: TestSourceSuiteCatchesEarlyAck/NackRedelivers"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
