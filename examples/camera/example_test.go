//go:build gocv

package camera_test

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/vision"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// The example builds (dry run: nothing is opened or dialled).
func TestExamplePipelineValidates(t *testing.T) {
	// `edgeflow model pull yolox-nano` puts the file in the cache under the
	// same name the mirror uses.
	t.Setenv("EDGEFLOW_MODEL_CACHE", models)
	t.Setenv("EDGEFLOW_MEDIA", media)
	f, err := config.Load("pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Build(context.Background(), config.BuildOptions{Logger: zerolog.Nop(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cam", "prep", "infer", "detect", "mqtt_detections", "nats_detections", "preview"} {
		if b.Components[name] == nil {
			t.Errorf("component %q not built", name)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a loopback address with a port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The example as shipped, on its embedded brokers: detections of vtest.avi
// arrive on MQTT vehicles/<camera>/detections and NATS
// vehicles.<camera>.detections as JSON with people in them, and annotated
// JPEGs are written.
func TestExampleRunsOnEmbeddedBrokers(t *testing.T) {
	need(t, media+"/vtest.avi")
	mqttAddr, natsAddr, dir := freePort(t), freePort(t), t.TempDir()
	t.Setenv("EDGEFLOW_MODEL_CACHE", models)
	t.Setenv("EDGEFLOW_MEDIA", media)
	t.Setenv("MQTT_LISTEN", mqttAddr)
	t.Setenv("NATS_LISTEN", natsAddr)
	t.Setenv("ANNOTATE_DIR", dir)
	t.Setenv("ANNOTATE_LISTEN", "127.0.0.1:0")
	t.Setenv("CAMERA_ID", "cam-7")
	f, err := config.Load("pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Build(context.Background(), config.BuildOptions{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- run(t, b, ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Error(err)
		}
	}()

	got := make(chan string, 64)
	mc := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("camera-example-test").SetCleanSession(true))
	if tok := mc.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect: %v", tok.Error())
	}
	defer mc.Disconnect(100)
	mc.Subscribe("vehicles/+/detections", 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- "mqtt " + m.Topic() + " " + string(m.Payload()):
		default:
		}
	}).Wait()
	nc, err := nats.Connect("nats://"+natsAddr, nats.Timeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe("vehicles.*.detections", func(m *nats.Msg) {
		select {
		case got <- "nats " + m.Subject + " " + string(m.Data):
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	seen := map[string]bool{}
	for deadline := time.After(time.Minute); !seen["mqtt"] || !seen["nats"]; {
		select {
		case s := <-got:
			parts := strings.SplitN(s, " ", 3)
			var msg struct {
				Camera     string             `json:"camera"`
				Count      int                `json:"count"`
				Detections []vision.Detection `json:"detections"`
			}
			if err := json.Unmarshal([]byte(parts[2]), &msg); err != nil {
				t.Fatalf("%s payload %q: %v", parts[0], parts[2], err)
			}
			wantTopic := map[string]string{"mqtt": "vehicles/cam-7/detections", "nats": "vehicles.cam-7.detections"}[parts[0]]
			if parts[1] != wantTopic || msg.Camera != "cam-7" {
				t.Errorf("%s: topic %s camera %q", parts[0], parts[1], msg.Camera)
			}
			if len(only(msg.Detections, "person")) > 0 {
				seen[parts[0]] = true
			}
		case <-deadline:
			t.Fatalf("no detections with people within a minute (seen %v)", seen)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if files, _ := filepath.Glob(filepath.Join(dir, "cam-7-*.jpg")); len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no annotated JPEG written")
		}
	}
}
