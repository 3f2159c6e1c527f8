package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv names the environment variable that points at the ONNX Runtime
// shared library.
const LibraryEnv = "ONNXRUNTIME_LIB"

// libraryName is the file the setup script extracts from onnxruntime-node.
const libraryName = "libonnxruntime.so.1"

// ErrNoRuntime is returned (wrapped) when the ONNX Runtime shared library
// cannot be found anywhere edgeflow looks.
var ErrNoRuntime = errors.New("ONNX Runtime library not found: run `make deps` " +
	"(it runs scripts/setup/onnxruntime.sh, which fetches " + libraryName +
	" into .cache/onnxruntime/lib) or set " + LibraryEnv + " to the path of libonnxruntime.so")

// runtime is the process-wide ONNX Runtime environment. ORT allows one per
// process, so the first successful Init wins and later calls reuse it.
var runtime struct {
	sync.Mutex
	path string // the library in use once initialised
}

// Init loads the ONNX Runtime library and creates the process's ORT
// environment. library is an explicit path from configuration and may be
// empty; see FindLibrary for the search order. Init is cheap after the first
// success. A failure is not remembered, so a later call (say, after
// `make deps`) can succeed.
func Init(library string) error {
	runtime.Lock()
	defer runtime.Unlock()
	if runtime.path != "" {
		if library != "" && library != runtime.path {
			return fmt.Errorf("ONNX Runtime already initialised from %s; cannot switch to %s in the same process", runtime.path, library)
		}
		return nil
	}
	candidates, err := libraryCandidates(library)
	if err != nil {
		return err
	}
	var errs []error
	for _, path := range candidates {
		ort.SetSharedLibraryPath(path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			errs = append(errs, err)
			continue
		}
		runtime.path = path
		return nil
	}
	if library != "" || os.Getenv(LibraryEnv) != "" {
		return fmt.Errorf("initialise ONNX Runtime: %w", errors.Join(errs...))
	}
	return fmt.Errorf("%w (tried %v: %v)", ErrNoRuntime, candidates, errors.Join(errs...))
}

// LibraryPath returns the library the running process initialised, or "".
func LibraryPath() string {
	runtime.Lock()
	defer runtime.Unlock()
	return runtime.path
}

// FindLibrary returns the ONNX Runtime library edgeflow would load: the
// explicit path when given, else $ONNXRUNTIME_LIB, else
// .cache/onnxruntime/lib/libonnxruntime.so.1 in the working directory or any
// parent of it, next to the executable (or in a parent's .cache), then
// $XDG_CACHE_HOME/edgeflow/onnxruntime. When none exists it returns "" and
// ErrNoRuntime; the caller may still try the system's loader paths.
func FindLibrary(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("ONNX Runtime library %q: %w", explicit, err)
		}
		return explicit, nil
	}
	if env := os.Getenv(LibraryEnv); env != "" {
		if _, err := os.Stat(env); err != nil {
			return "", fmt.Errorf("%s=%q: %w", LibraryEnv, env, err)
		}
		return env, nil
	}
	for _, p := range cachePaths() {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", ErrNoRuntime
}

// libraryCandidates is FindLibrary plus, when nothing was found in the
// caches, the bare sonames for the dynamic loader (ldconfig paths).
func libraryCandidates(explicit string) ([]string, error) {
	p, err := FindLibrary(explicit)
	if err == nil {
		return []string{p}, nil
	}
	if !errors.Is(err, ErrNoRuntime) {
		return nil, err
	}
	return []string{libraryName, "libonnxruntime.so"}, nil
}

func cachePaths() []string {
	rel := filepath.Join(".cache", "onnxruntime", "lib", libraryName)
	var out []string
	upward := func(dir string) {
		for {
			out = append(out, filepath.Join(dir, rel))
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	}
	if wd, err := os.Getwd(); err == nil {
		upward(wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			out = append(out, filepath.Join(filepath.Dir(exe), libraryName))
			upward(filepath.Dir(exe))
		}
	}
	if dir, err := os.UserCacheDir(); err == nil {
		out = append(out, filepath.Join(dir, "edgeflow", "onnxruntime", libraryName))
	}
	return out
}
