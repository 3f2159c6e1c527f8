package chaos

import (
	"syscall"
	"testing"
	"time"
)

// The faults every scenario goes through, in order.
func edgeflowKill(at float64) fault {
	return fault{at, "edgeflow SIGKILL and restart", func(r *run) {
		_ = r.ef.stop(syscall.SIGKILL)
		r.ef.start()
	}}
}

func edgeflowTerm(at float64) fault {
	return fault{at, "edgeflow SIGTERM and restart", func(r *run) {
		if err := r.ef.stop(syscall.SIGTERM); err != nil {
			r.t.Errorf("edgeflow after SIGTERM: %v", err)
		}
		r.ef.start()
	}}
}

func sourceBroker(at float64, kill bool) fault {
	name := "source mosquitto SIGTERM and restart"
	if kill {
		name = "source mosquitto SIGKILL and restart"
	}
	return fault{at, name, func(r *run) {
		if kill {
			r.src.Kill()
		} else {
			r.src.Stop()
		}
		time.Sleep(time.Second)
		r.src.Start()
	}}
}

func sinkOutage(at float64, kill bool) fault {
	name := "sink broker SIGTERM, 3s outage, restart"
	if kill {
		name = "sink broker SIGKILL, 3s outage, restart"
	}
	return fault{at, name, func(r *run) {
		switch {
		case r.nats != nil && kill:
			r.nats.Kill()
		case r.nats != nil:
			r.nats.Stop()
		case kill:
			r.out.Kill()
		default:
			r.out.Stop()
		}
		time.Sleep(3 * time.Second)
		if r.nats != nil {
			r.nats.Start()
		} else {
			r.out.Start()
		}
	}}
}

func matrix() []fault {
	fs := []fault{edgeflowKill(0.15), sinkOutage(0.3, false), sourceBroker(0.45, false), edgeflowTerm(0.6)}
	if full() {
		fs = append(fs, sinkOutage(0.7, true), edgeflowKill(0.8), sourceBroker(0.9, true))
	}
	return fs
}

// MQTT -> NATS JetStream through every fault, poison messages mixed in.
func TestMQTTToJetStream(t *testing.T) { scenario(t, "jetstream", matrix()) }

// MQTT -> MQTT through every fault, poison messages mixed in.
func TestMQTTToMQTT(t *testing.T) { scenario(t, "mqtt", matrix()) }
