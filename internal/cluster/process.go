package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// stopGrace is how long a process may take to exit after SIGTERM before
	// it is killed; etcd and kube-apiserver shut down in well under a second.
	stopGrace = 10 * time.Second
	// pollInterval paces every readiness poll in this package.
	pollInterval = 100 * time.Millisecond
	// logTailLines is how much of a process's log an error quotes.
	logTailLines = 30
)

// process is one child process whose output goes to <dir>/<name>.log and
// whose pid is recorded in <dir>/<name>.pid, so that scripts can check after
// the fact that it is gone.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // valid after done is closed

	stopOnce sync.Once
}

// startProcess starts bin with args in its own process group. The child is
// killed by the kernel if this process dies (Pdeathsig on Linux), so a test
// binary that is killed or times out leaves no orphans behind.
func startProcess(dir, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	// The child holds its own copy of the descriptor.
	defer logFile.Close()

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	pidFile := filepath.Join(dir, name+".pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		p.stop()
		return nil, fmt.Errorf("write %s pid file: %w", name, err)
	}
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exitError reports whether the process has exited, and how, quoting its log.
func (p *process) exitError() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.name, p.waitErr, p.logPath, p.logTail())
	default:
		return nil
	}
}

// stop sends SIGTERM to the process group, waits a bounded time, then sends
// SIGKILL. It returns once the process has been reaped. Safe to call twice.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		// The negative pid addresses the whole group, so anything the child
		// itself started goes too.
		pgid := -p.cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// logTail returns the last lines of the process's log.
func (p *process) logTail() string { return fileTail(p.logPath, logTailLines) }

func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// FreePorts returns n distinct free loopback ports. All listeners stay open
// until every port is chosen, so the kernel cannot hand out one port twice;
// another program may still take a port before our child binds it, which a
// failed start then reports with the child's log.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// poll calls check every pollInterval until it returns true, an error, the
// process exits, ctx ends or timeout passes. The last "not yet" reason is
// part of the timeout error, so a slow start says what it was waiting for.
func poll(ctx context.Context, timeout time.Duration, what string, p *process, check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		if p != nil {
			if err := p.exitError(); err != nil {
				return fmt.Errorf("wait for %s: %w", what, err)
			}
		}
		ok, err := check(ctx)
		if ok {
			return nil
		}
		// A check the deadline cut short says less than the one before it
		// (on a loaded machine, /readyz's body naming what is wrong).
		if err != nil && (lastErr == nil || ctx.Err() == nil) {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("wait for %s: %v", what, context.Cause(ctx))
			if lastErr != nil {
				msg += fmt.Sprintf(" (last error: %v)", lastErr)
			}
			if p != nil {
				msg += fmt.Sprintf("; last lines of %s:\n%s", p.logPath, p.logTail())
			}
			return errors.New(msg)
		case <-ticker.C:
		}
	}
}

// run runs a short-lived command and returns its output; the error includes
// stderr because that is where every CLI explains itself.
func run(ctx context.Context, env []string, stdin string, bin string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = sysProcAttr()
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), err
}

// kill sends SIGKILL to the process group and waits until it is reaped, as a
// crash or an OOM kill would end it: no shutdown code runs.
func (p *process) kill() {
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
}
