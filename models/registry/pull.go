package registry

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
)

// Environment variables that configure pulls.
const (
	CacheEnv  = "EDGEFLOW_MODEL_CACHE"  // the cache directory
	MirrorEnv = "EDGEFLOW_MODEL_MIRROR" // a folder or an http(s) URL
)

// ErrChecksum is returned (wrapped) when a fetched file's SHA-256 is not
// the expected one.
var ErrChecksum = errors.New("sha256 mismatch")

// errNotFound means a source does not have the file; the next one is tried.
var errNotFound = errors.New("not found")

// Puller fetches models into a cache. The zero value reads its settings
// from the environment.
type Puller struct {
	// Cache is the cache directory (default $EDGEFLOW_MODEL_CACHE, else
	// the user cache dir's edgeflow/models, i.e. ~/.cache/edgeflow/models).
	Cache string
	// Mirror is a folder or http(s) base URL tried before upstream
	// (default $EDGEFLOW_MODEL_MIRROR). It holds files under their Entry.File
	// names, or the archive for entries that come in one.
	Mirror string
	// Client fetches URLs (default http.DefaultClient).
	Client *http.Client
	// Logger says where models come from (default: discard).
	Logger *zerolog.Logger
	// Progress, if set, is called as a download goes with the bytes read
	// so far and the total (-1 when the server does not say).
	Progress func(done, total int64)
}

// CacheDir returns the cache directory in use.
func (p *Puller) CacheDir() (string, error) {
	if p.Cache != "" {
		return p.Cache, nil
	}
	if env := os.Getenv(CacheEnv); env != "" {
		return env, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set %s): %w", CacheEnv, err)
	}
	return filepath.Join(dir, "edgeflow", "models"), nil
}

func (p *Puller) mirror() string {
	if p.Mirror != "" {
		return p.Mirror
	}
	return os.Getenv(MirrorEnv)
}

func (p *Puller) log() *zerolog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	nop := zerolog.Nop()
	return &nop
}

// Pull fetches a known model by name, or a model by http(s) URL, and
// returns the path of the verified file in the cache. For a URL, sha256 is
// the expected digest ("" accepts any file and logs its digest).
func (p *Puller) Pull(ctx context.Context, nameOrURL, sha256 string) (string, error) {
	if e, ok := Lookup(nameOrURL); ok {
		if sha256 != "" && !strings.EqualFold(sha256, e.SHA256) {
			return "", fmt.Errorf("%s: --sha256 %s differs from the manifest's %s", e.Name, sha256, e.SHA256)
		}
		return p.PullEntry(ctx, e)
	}
	u, err := url.Parse(nameOrURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		var names []string
		for _, e := range Known() {
			names = append(names, e.Name)
		}
		return "", fmt.Errorf("unknown model %q: want one of %s, or an http(s) URL", nameOrURL, strings.Join(names, ", "))
	}
	file := path.Base(u.Path)
	if file == "/" || file == "." || !strings.HasSuffix(file, ".onnx") {
		return "", fmt.Errorf("URL %s does not name an .onnx file", nameOrURL)
	}
	return p.PullEntry(ctx, Entry{Name: file, File: file, URL: nameOrURL, SHA256: strings.ToLower(sha256)})
}

// PullEntry fetches e unless the cache already holds a verified copy. The
// file is downloaded to a temporary name, verified and only then renamed
// into place, so a failed or mismatching pull changes nothing in the cache.
func (p *Puller) PullEntry(ctx context.Context, e Entry) (string, error) {
	cache, err := p.CacheDir()
	if err != nil {
		return "", err
	}
	dst := filepath.Join(cache, e.File)
	if e.SHA256 != "" {
		if sum, err := fileSHA256(dst); err == nil && sum == e.SHA256 {
			p.log().Debug().Str("model", e.Name).Str("path", dst).Msg("cached")
			return dst, nil
		} else if err == nil {
			p.log().Warn().Str("model", e.Name).Str("path", dst).Str("sha256", sum).
				Msg("cached copy does not match the manifest; fetching again")
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("model cache: %w", err)
	}
	var errs []error
	for _, src := range p.sources(e) {
		err := p.fetch(ctx, e, src, dst)
		if err == nil {
			p.log().Info().Str("model", e.Name).Str("from", src.where).Str("path", dst).Msg("pulled")
			return dst, nil
		}
		if !errors.Is(err, errNotFound) {
			// A file that is there but wrong, or a broken archive, is
			// an error to report, not a reason to look elsewhere.
			return "", fmt.Errorf("pull %s from %s: %w", e.Name, src.where, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", src.where, err))
	}
	return "", fmt.Errorf("pull %s: %w", e.Name, errors.Join(errs...))
}

// source is one place to fetch from.
type source struct {
	where  string // a path or URL
	member string // inside a .tgz, or ""
}

func (p *Puller) sources(e Entry) []source {
	var out []source
	if m := p.mirror(); m != "" {
		join := func(name string) string {
			if isURL(m) {
				return strings.TrimSuffix(m, "/") + "/" + url.PathEscape(name)
			}
			return filepath.Join(m, name)
		}
		out = append(out, source{where: join(e.File)})
		if a := e.archiveName(); a != "" {
			out = append(out, source{where: join(a), member: e.Member})
		}
	}
	if e.URL != "" {
		out = append(out, source{where: e.URL, member: e.Member})
	}
	return out
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// fetch copies one source to dst through a verified temporary file.
func (p *Puller) fetch(ctx context.Context, e Entry, src source, dst string) error {
	body, size, err := p.open(ctx, src.where)
	if err != nil {
		return err
	}
	defer body.Close()
	r := io.Reader(body)
	if p.Progress != nil {
		r = &progressReader{r: body, total: size, fn: p.Progress}
	}
	if src.member != "" {
		if r, err = tarMember(r, src.member); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+e.File+".*.partial")
	if err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if e.SHA256 == "" {
		p.log().Warn().Str("model", e.Name).Str("sha256", got).Msg("no checksum given; pass --sha256 to verify")
	} else if got != e.SHA256 {
		return fmt.Errorf("%w: got %s, want %s", ErrChecksum, got, e.SHA256)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("model cache: %w", err)
	}
	return nil
}

func (p *Puller) open(ctx context.Context, where string) (io.ReadCloser, int64, error) {
	if !isURL(where) {
		f, err := os.Open(where)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, errNotFound
		}
		if err != nil {
			return nil, 0, err
		}
		size := int64(-1)
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		return f, size, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, 0, err
	}
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (%v)", errNotFound, err) // unreachable: try the next source
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp.Body, resp.ContentLength, nil
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, 0, errNotFound
	default:
		resp.Body.Close()
		return nil, 0, fmt.Errorf("%w (HTTP %s)", errNotFound, resp.Status)
	}
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	p.fn(p.done, p.total)
	return n, err
}

// tarMember returns a reader over one file of a gzipped tar stream.
func tarMember(r io.Reader, member string) (io.Reader, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("archive has no %s", member)
		}
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		if hdr.Name == member && hdr.Typeflag == tar.TypeReg {
			return tr, nil
		}
	}
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
