package mqtt

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	qos byte // 0 unless set: acknowledged through Ack
	log *ackLog
}

func (m *fakeMsg) Qos() byte { return m.qos }

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

// On a buffered TCP connection, QoS 1 messages are acknowledged by PUBACK
// packets the ack loop writes itself, in arrival order, failed ones
// skipped; a QoS 2 message between them still goes through paho (Ack).
func TestPubacksWrittenInArrivalOrder(t *testing.T) {
	c, server, _ := ackLoopOverPipe(t)
	log := &ackLog{}
	const n = 1000
	ps := make([]*pending, n)
	for i := range ps {
		qos := byte(1)
		if i%50 == 7 {
			qos = 2
		}
		ps[i] = c.acks.add(&fakeMsg{id: i + 1, qos: qos, log: log}, 1)
	}
	var wantBytes []byte
	var wantAcked []int
	for i := range n {
		switch {
		case i%97 == 0: // failed: left for redelivery
		case i%50 == 7:
			wantAcked = append(wantAcked, i+1)
		default:
			wantBytes = append(wantBytes, 0x40, 2, byte((i+1)>>8), byte(i+1))
		}
	}
	order := rand.Perm(n)
	for _, i := range order {
		var err error
		if i%97 == 0 {
			err = errors.New("sink down")
		}
		ps[i].settle(err, true)
	}
	got := make([]byte, len(wantBytes))
	read := make(chan error, 1)
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	go func() { _, err := io.ReadFull(server, got); read <- err }()
	c.flushAcks()
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantBytes) {
		t.Errorf("PUBACK bytes differ from the arrival order (%d bytes, want %d)", len(got), len(wantBytes))
	}
	if !slices.Equal(log.ids, wantAcked) {
		t.Errorf("acknowledged through paho: %v, want the QoS 2 ones %v", log.ids, wantAcked)
	}
	if got := c.Stats().Acked; got != uint64(len(wantBytes)/4+len(wantAcked)) {
		t.Errorf("acked = %d, want %d", got, len(wantBytes)/4+len(wantAcked))
	}
}

// sentCounter is a paho client that counts UpdateLastSent calls.
type sentCounter struct {
	paho.Client
	n atomic.Int32
}

func (s *sentCounter) UpdateLastSent() { s.n.Add(1) }

// ackLoopOverPipe returns a connection whose ack loop writes to a buffered
// in-memory pipe (the broker's end is server) and whose paho client is a
// sentCounter; both ends close with the test.
func ackLoopOverPipe(t *testing.T) (*Conn, net.Conn, *sentCounter) {
	t.Helper()
	c, err := New("t", Options{URL: "tcp://127.0.0.1:1", ClientID: "x"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	bc := newBufferedConn(client)
	t.Cleanup(func() { bc.Close() })
	c.acks.net.Store(bc)
	sent := &sentCounter{}
	c.client = sent
	return c, server, sent
}

// PUBACKs written past paho must still count as sent for its keepalive, or
// it pings in the middle of a busy stream (see sentByUs).
func TestPubacksCountAsSentForKeepalive(t *testing.T) {
	if _, ok := paho.NewClient(paho.NewClientOptions()).(interface{ UpdateLastSent() }); !ok {
		t.Fatal("paho's client has no UpdateLastSent: PUBACKs written by the ack loop would not hold its keepalive ping back")
	}
	c, server, sent := ackLoopOverPipe(t)
	go func() { _, _ = io.Copy(io.Discard, server) }()
	c.acks.add(&fakeMsg{id: 1, qos: 1, log: &ackLog{}}, 1).settle(nil, true)
	c.flushAcks()
	if sent.n.Load() != 1 {
		t.Errorf("UpdateLastSent called %d times for one batch, want 1", sent.n.Load())
	}
	c.acks.add(&fakeMsg{id: 2, qos: 2, log: &ackLog{}}, 1).settle(nil, true) // through paho: its writer stamps it
	c.flushAcks()
	if sent.n.Load() != 1 {
		t.Errorf("UpdateLastSent called for a QoS 2 ack paho sends itself")
	}
}
