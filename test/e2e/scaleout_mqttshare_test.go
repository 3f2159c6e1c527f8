package e2e

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// TestMQTTSharedSubscriptionDeadMember states what Mosquitto (MQTT 3.1.1,
// $share extension) does with the messages of a shared-subscription member
// that is SIGKILLed: it assigns messages to members when they are
// published, and never hands a dead member's share to the others. With a
// persistent session they wait for that member (the group stalls); with a
// clean session they are lost. docs/scale-out.md recommends bridging into
// JetStream instead (TestMQTTRedundantBridgesIntoJetStream).
func TestMQTTSharedSubscriptionDeadMember(t *testing.T) {
	for _, clean := range []bool{false, true} {
		t.Run(fmt.Sprint("clean_session=", clean), func(t *testing.T) {
			const total = 1500
			broker := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{MaxInflight: 20, Extra: "log_type subscribe"})
			render := func(i int, out string) string {
				return fmt.Sprintf(`
name: shared-sub
drain_timeout: 5s
connections:
  plant: {type: mqtt, url: %s, client_id: edgeflow-member-%d, clean_session: %v}
sources:
  readings: {type: mqtt, connection: plant, topics: [$share/workers/seq/#], qos: 1}
stages:
  # Slower than the publisher: the broker queues each member's share.
  pace: {type: throttle, input: readings, rate: 300, burst: 10}
sinks:
  archive: {type: file, input: pace, path: %s, fsync: true}
`, broker.URL(), i, clean, out)
			}
			group := startInstances(t, 3, render, instanceOptions{})
			waitUntil(t, 20*time.Second, "the members to subscribe", func() bool {
				return countIn(broker.Log(), "$share/workers/seq/#") >= 3
			})
			var published atomic.Int64
			if err := publishSeqs(broker.URL(), total, &published); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, 20*time.Second, "a fifth of the messages", func() bool {
				merged, _ := group.seen(t)
				return len(merged) > total/5
			})
			group.procs[1].kill()
			_, per := group.seen(t)
			// Wait until the survivors have been idle for 2s.
			last, since := -1, time.Now()
			waitUntil(t, 30*time.Second, "the survivors to go idle", func() bool {
				_, per := group.seen(t)
				if n := per[0] + per[2]; n != last {
					last, since = n, time.Now()
				}
				return time.Since(since) > 2*time.Second
			})
			merged, after := group.seen(t)
			missing := total - len(merged)
			t.Logf("member 1 had written %d when killed; the survivors then wrote %d and %d and went idle; %d messages missing",
				per[1], after[0], after[2], missing)
			if missing == 0 {
				t.Fatal("the survivors got every message: the broker handed the dead member's share on (update docs/scale-out.md)")
			}
			if clean {
				return
			}
			// The persistent session kept them: they come when it does.
			restarted := startEdgeflow(t, group.procs[1].cmd.Args[len(group.procs[1].cmd.Args)-1])
			waitUntil(t, 30*time.Second, "the dead member's share after its restart", func() bool {
				merged, _ := group.seen(t)
				return len(merged) >= total
			})
			restarted.stop(t)
			group.stopAll(t, 1)
			merged, _ = group.seen(t)
			t.Logf("after the restart: all %d, %d duplicates", total, checkComplete(t, merged, total))
		})
	}
}

func countIn(s, sub string) int {
	n := 0
	for i := 0; ; {
		j := indexFrom(s, sub, i)
		if j < 0 {
			return n
		}
		n++
		i = j + len(sub)
	}
}

func indexFrom(s, sub string, from int) int {
	if from > len(s) {
		return -1
	}
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
