// Package brokertest starts real message brokers (mosquitto, nats-server) as
// child processes for tests: each on a free 127.0.0.1 port with its own data
// directory, and each able to be killed and restarted on the same port and
// directory, so that tests can prove what survives a broker restart.
//
// The binaries come from scripts/setup/mosquitto.sh and
// scripts/setup/nats-server.sh (run by `make deps`). A test whose binary is
// missing fails with a message naming the script rather than skipping: a
// skipped broker test proves nothing.
package brokertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a broker may take to accept connections. The
// test machines are small and shared, so it is generous.
const startTimeout = 20 * time.Second

// process is one broker child process that can be stopped and started again
// with the same arguments, port and directory.
type process struct {
	t    testing.TB
	name string   // for messages
	bin  string   // absolute path of the binary
	args []string // command line after the binary
	addr string   // host:port it listens on
	dir  string   // data directory, also holds the log
	log  string   // path of the combined stdout/stderr log

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has been waited for
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another process
// could take it before the broker binds; the starters retry in that case.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// binDirs are searched after PATH: apt installs brokers to sbin
// directories, which a non-root PATH may lack.
var binDirs = []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"}

// lookBinary finds a broker binary on PATH or in binDirs. A missing binary
// fails the test (never skips it) with a message saying how to install it.
func lookBinary(t testing.TB, name, script string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range binDirs {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("brokertest: %s not found on PATH or in %s: run `make deps` (it runs %s)",
		name, strings.Join(binDirs, ", "), script)
	return ""
}

// start launches the process and waits until its port accepts connections.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	// An *os.File as stdout/stderr goes to the child directly: no copying
	// goroutines for goleak to find.
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so a ^C on `go test` does not race our kill.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	var waitErr error
	// This goroutine owns cmd.Wait. It ends when the process exits, which
	// stop and the test cleanup guarantee.
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited during start-up (%v); log:\n%s", p.name, waitErr, p.tail())
		default:
		}
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			p.cmd, p.exited = cmd, exited
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%s did not accept connections on %s within %s; log:\n%s", p.name, p.addr, startTimeout, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig and waits for the process to exit. After SIGTERM it waits up
// to 15s and then kills. Stopping a stopped process does nothing.
func (p *process) stop(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.t.Logf("brokertest: %s ignored %v for 15s; killing it", p.name, sig)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd, p.exited = nil, nil
}

// pid is the process id, 0 while stopped.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// running reports whether the process is started and has not exited.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// tail returns the end of the log, for failure messages.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	s := string(b)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}

// launch picks a free port, lets build lay out the process for it, and
// starts it, retrying on another port when the first is taken meanwhile.
// It registers a cleanup that kills the process.
func launch(t testing.TB, build func(port int) *process) *process {
	t.Helper()
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		p := build(port)
		if lastErr = p.start(); lastErr == nil {
			t.Cleanup(func() { p.stop(syscall.SIGKILL) })
			return p
		}
		if !strings.Contains(lastErr.Error(), "ddress already in use") {
			break
		}
	}
	t.Fatalf("brokertest: %v", lastErr)
	return nil
}

// restart starts a stopped process again on the same port and directory,
// failing the test if it cannot.
func (p *process) restart() {
	p.t.Helper()
	var err error
	// The old socket may linger briefly; both brokers set SO_REUSEADDR, but
	// give the kernel a few tries anyway.
	for range 5 {
		if err = p.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("brokertest: restart %s: %v", p.name, err)
}
