//go:build gocv

package face_test

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
	"github.com/rs/zerolog"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The example as shipped, on its embedded broker with the int8 model: faces
// with six keypoints arrive on MQTT faces/<camera>/detections.
func TestExampleFacesOnMQTT(t *testing.T) {
	f := prepare(t)
	addr := freePort(t)
	t.Setenv("EDGEFLOW_MODEL_CACHE", f.dir)
	t.Setenv("FACE_VIDEO", f.video)
	t.Setenv("MQTT_LISTEN", addr)
	t.Setenv("METRICS_LISTEN", "127.0.0.1:0")
	t.Setenv("CAMERA_ID", "door-7")
	cf, err := config.Load("pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := cf.Build(context.Background(), config.BuildOptions{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Components["infer"]; got == nil {
		t.Fatal("no infer stage")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runErr := make(chan error, 1)
	go func() {
		err := b.Pipeline.Run(ctx)
		if cerr := b.Close(context.Background()); err == nil {
			err = cerr
		}
		runErr <- err
	}()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Error(err)
		}
	}()

	got := make(chan paho.Message, 64)
	mc := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("face-example-test").SetCleanSession(true).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond))
	if tok := mc.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect: %v", tok.Error())
	}
	defer mc.Disconnect(100)
	mc.Subscribe("faces/+/detections", 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- m:
		default:
		}
	}).Wait()
	for deadline := time.After(time.Minute); ; {
		select {
		case m := <-got:
			var msg struct {
				Camera     string             `json:"camera"`
				Count      int                `json:"count"`
				Detections []vision.Detection `json:"detections"`
			}
			if err := json.Unmarshal(m.Payload(), &msg); err != nil {
				t.Fatalf("payload %q: %v", m.Payload(), err)
			}
			if m.Topic() != "faces/door-7/detections" || msg.Camera != "door-7" {
				t.Fatalf("topic %s camera %q", m.Topic(), msg.Camera)
			}
			if msg.Count == 0 {
				continue
			}
			d := msg.Detections[0]
			if d.Class != "face" || len(d.Keypoints) != 6 || d.Box.Area() < 20*20 {
				t.Fatalf("face %+v", d)
			}
			if !strings.Contains(string(m.Payload()), `"keypoints":[{"x":`) {
				t.Fatalf("payload %s", m.Payload())
			}
			return
		case <-deadline:
			t.Fatal("no face on MQTT within a minute")
		}
	}
}

// agreement is the share of the reference's detections that the other run
// also found on the same frame (IoU ≥ 0.5), and the mean IoU of the matches.
func agreement(ref, other []frameResult) (share, meanIoU float64, total int) {
	byFrame := map[uint64][]vision.Detection{}
	for _, r := range other {
		byFrame[r.frame] = r.dets
	}
	matched := 0
	var sum float64
	for _, r := range ref {
		for _, d := range r.dets {
			total++
			best := float32(0)
			for _, o := range byFrame[r.frame] {
				best = max(best, vision.IoU(d.Box, o.Box))
			}
			if best >= 0.5 {
				matched++
				sum += float64(best)
			}
		}
	}
	if total == 0 {
		return 0, 0, 0
	}
	return float64(matched) / float64(total), sum / float64(max(matched, 1)), total
}

// The int8 model (edgeflow's quantiser) finds the faces the fp32 conversion
// finds, frame by frame, through the pipeline.
func TestInt8AgreesWithFP32(t *testing.T) {
	f := prepare(t)
	fp32, _ := runVideo(t, "agree-fp32", f.video, filepath.Join(f.dir, fp32Name))
	int8, _ := runVideo(t, "agree-int8", f.video, filepath.Join(f.dir, int8Name))
	frames := 2 * framesPerShot
	if len(fp32) != frames || len(int8) != frames {
		t.Fatalf("%d and %d results for %d frames", len(fp32), len(int8), frames)
	}
	withFace := 0
	for _, r := range fp32 {
		if len(r.dets) > 0 {
			withFace++
		}
	}
	share, iou, n := agreement(fp32, int8)
	back, _, m := agreement(int8, fp32)
	t.Logf("fp32: faces on %d of %d frames; int8 finds %.1f %% of the %d fp32 faces (mean IoU %.3f); fp32 finds %.1f %% of the %d int8 faces",
		withFace, frames, 100*share, n, iou, 100*back, m)
	if withFace < frames*9/10 {
		t.Errorf("fp32 found faces on only %d of %d frames", withFace, frames)
	}
	if share < 0.95 || back < 0.95 {
		t.Errorf("int8 agreement %.3f / %.3f, want ≥ 0.95", share, back)
	}
}
