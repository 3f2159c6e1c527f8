package redact

import (
	"bytes"
	"testing"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://edge:s3cret@broker:1883":                        "tcp://edge:xxxxx@broker:1883",
		"rtsp://admin:p@ss@10.0.0.7:554/stream1":               "rtsp://admin:xxxxx@10.0.0.7:554/stream1",
		"nats://tok3n@a:4222,nats://u:p@b:4222":                "nats://xxxxx@a:4222,nats://u:xxxxx@b:4222",
		`dial "mqtt://u:pw@h:1883": refused`:                   `dial "mqtt://u:xxxxx@h:1883": refused`,
		"tcp://broker:1883":                                    "tcp://broker:1883",
		"mail me@example.com":                                  "mail me@example.com",
		"http://h/path?q=a@b":                                  "http://h/path?q=a@b",
		"open stream rtsp://cam:pw@10.0.0.7/s: timeout (rtsp)": "open stream rtsp://cam:xxxxx@10.0.0.7/s: timeout (rtsp)",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	line := `{"level":"warn","url":"tcp://edge:s3cret@broker:1883","message":"broker unreachable"}` + "\n"
	n, err := Writer(&b).Write([]byte(line))
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if want := `{"level":"warn","url":"tcp://edge:xxxxx@broker:1883","message":"broker unreachable"}` + "\n"; b.String() != want {
		t.Fatalf("got %s", b.String())
	}
}
