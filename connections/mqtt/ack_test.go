package mqtt

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, brokertest.IgnorePahoDisconnect) }

// fakeMsg records the order of Ack calls.
type fakeMsg struct {
	paho.Message
	id  int
	log *ackLog
}

type ackLog struct {
	mu  sync.Mutex
	ids []int
}

func (m *fakeMsg) MessageID() uint16 { return uint16(m.id) }

func (m *fakeMsg) Ack() {
	m.log.mu.Lock()
	m.log.ids = append(m.log.ids, m.id)
	m.log.mu.Unlock()
}

// Settling in random order from many goroutines must still acknowledge in
// arrival order, skipping the failed ones.
func TestAcksInArrivalOrder(t *testing.T) {
	c, err := New("t", Options{URL: "tcp://127.0.0.1:1", ClientID: "x"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	log := &ackLog{}
	const n = 2000
	ps := make([]*pending, n)
	for i := range ps {
		ps[i] = c.acks.add(&fakeMsg{id: i, log: log}, 2) // two subscribers each
	}
	type settleOp struct {
		i   int
		err error
	}
	var ops []settleOp
	for i := range n {
		var err error
		if i%97 == 0 {
			err = errors.New("sink down")
		}
		ops = append(ops, settleOp{i, nil}, settleOp{i, err})
	}
	rand.Shuffle(len(ops), func(a, b int) { ops[a], ops[b] = ops[b], ops[a] })
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for k := w; k < len(ops); k += 4 {
				ps[ops[k].i].settle(ops[k].err, true)
			}
		})
	}
	wg.Wait()
	c.flushAcks()
	var want []int
	for i := range n {
		if i%97 != 0 {
			want = append(want, i)
		}
	}
	if !slices.Equal(log.ids, want) {
		t.Fatalf("acks out of order or wrong: got %d acks, want %d; first got %v", len(log.ids), len(want), log.ids[:min(10, len(log.ids))])
	}
	if got := c.Stats().Stranded; got != uint64((n+96)/97) {
		t.Errorf("stranded = %d, want %d", got, (n+96)/97)
	}
}
