package mqtt

import (
	"github.com/edgeflow/edgeflow/component"
)

func init() {
	component.RegisterConnection(component.ConnectionSpec{
		Name:    "mqtt",
		Summary: "A shared MQTT 3.1.1 session (paho), or an embedded broker.",
		Description: `One client session shared by every mqtt source and sink that names it.
Received QoS 1/2 messages are acknowledged only after the pipeline has delivered them,
in arrival order; failed ones stay unacknowledged and are redelivered by the broker after a
reconnect (persistent session). Reconnects use a doubling, jittered backoff capped at
reconnect_max. url: embedded runs a broker (mochi-mqtt) inside edgeflow. See docs/mqtt.md.`,
		Fields: fields,
		Example: `connections:
  plant:
    type: mqtt
    url: tcp://broker.local:1883
    client_id: edgeflow-line-3
    username: edge
    password_env: MQTT_PASSWORD`,
		New: func(conf *component.Config, res *component.Resources) (component.Connection, error) {
			opts, err := optionsFromConfig(conf, res.Dir)
			if err != nil {
				return nil, err
			}
			return New(res.Node, opts, res.Logger)
		},
	})
}
