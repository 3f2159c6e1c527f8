package nats

import "github.com/edgeflow/edgeflow/component"

func init() {
	component.RegisterConnection(component.ConnectionSpec{
		Name:    "nats",
		Summary: "A NATS client connection, or an embedded nats-server with JetStream.",
		Description: "One client connection shared by every `nats` source and sink that names it. " +
			"It connects when the pipeline starts (never during `validate`) and reconnects by itself, " +
			"without limit by default; while it is down, JetStream sources stop receiving and sinks fail " +
			"their writes (the engine's retries and backpressure take over).\n\n" +
			"`url: embedded` runs nats-server inside edgeflow with JetStream enabled, storing streams under " +
			"`store_dir` and listening on `embedded_listen` so that other programs on the box can connect. " +
			"See docs/nats.md for delivery semantics.",
		Fields:  fields,
		Example: example,
		New: func(conf *component.Config, res *component.Resources) (component.Connection, error) {
			return New(conf, res)
		},
	})
}

const example = `connections:
  bus:
    type: nats
    url: nats://10.0.0.5:4222,nats://10.0.0.6:4222
    creds_file: /etc/edgeflow/plant.creds
  local:
    type: nats
    url: embedded
    store_dir: /var/lib/edgeflow/jetstream
    embedded_listen: 127.0.0.1:4222`
