package mqtt

import (
	"strconv"
	"testing"
	"time"

	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/pipeline"
)

// dropOutput takes what a source emits and settles it at once, as the
// engine does with a message whose sinks are done, so that a benchmark
// sees the source's own cost, reuse of settled messages included.
type dropOutput struct{ emitted, dead int }

func (o *dropOutput) Emit(m *pipeline.Message) error { o.emitted++; m.Release(nil); return nil }
func (o *dropOutput) DeadLetter(m *pipeline.Message, err error) {
	o.dead++
	m.Release(nil)
}

// BenchmarkEmitQoS0 is the source's cost of turning one QoS 0 delivery
// into a message (metadata, decode, key, time), as in the MQTTToMQTT
// bench's bridge; no broker is involved.
func BenchmarkEmitQoS0(b *testing.B) {
	src := unconnectedSource(b)
	payloads := make([][]byte, 64)
	for i := range payloads {
		payloads[i] = []byte(`{"sensor":"s` + strconv.Itoa(i%8) + `","seq":` + strconv.Itoa(100000+i) +
			`,"ts":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`)
	}
	out := &dropOutput{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := mqttconn.Delivery{Topic: "in/s3", Payload: payloads[i%len(payloads)], Delivered: 1}
		if err := src.emit(&d, out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if out.dead != 0 || out.emitted != b.N {
		b.Fatalf("emitted %d, dead-lettered %d of %d", out.emitted, out.dead, b.N)
	}
}
