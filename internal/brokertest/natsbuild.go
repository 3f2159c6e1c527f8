package brokertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var embedded struct {
	once sync.Once
	path string
	err  error
}

// EmbeddedNATSServer returns a nats-server binary of the version edgeflow
// embeds (github.com/nats-io/nats-server/v2 in go.mod), built once per test
// process with `go build` from the module cache. Features newer than the
// distribution's 2.9 (stream subject transforms, pinned consumers) need it.
func EmbeddedNATSServer(t testing.TB) string {
	t.Helper()
	embedded.once.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
		if err != nil {
			embedded.err = fmt.Errorf("find the embedded nats-server version: %w", err)
			return
		}
		version := strings.TrimSpace(string(out))
		// Outside t.TempDir so that the tests of one process share it; the
		// name carries the version so that a go.mod bump rebuilds.
		path := filepath.Join(os.TempDir(), "edgeflow-brokertest", "nats-server-"+version)
		if _, err := os.Stat(path); err == nil {
			embedded.path = path
			return
		}
		tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
		build := exec.Command("go", "build", "-o", tmp, "github.com/nats-io/nats-server/v2")
		if out, err := build.CombinedOutput(); err != nil {
			embedded.err = fmt.Errorf("go build nats-server %s: %w\n%s", version, err, out)
			return
		}
		if err := os.Rename(tmp, path); err != nil {
			embedded.err = err
			return
		}
		embedded.path = path
	})
	if embedded.err != nil {
		t.Fatalf("brokertest: %v", embedded.err)
	}
	return embedded.path
}
