package cluster

import (
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// live holds the clusters that are running, so that an interrupt of a test
// binary stops them before it ends: Go runs no deferred calls or t.Cleanup
// functions on SIGINT or SIGTERM, and the temporary directories would stay
// behind. Programs handle signals themselves (see cmd/devcluster) and call
// Stop; a library's handler would only race theirs.
var live struct {
	sync.Mutex
	clusters map[*Cluster]struct{}
	once     sync.Once
}

func track(c *Cluster) {
	live.once.Do(func() {
		if !testing.Testing() {
			return
		}
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
		go func() {
			sig := <-signals
			signal.Stop(signals)
			stopAll()
			// Deliver the signal again now that nothing listens, so the test
			// binary ends as it would have without this package.
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(os.Getpid(), s)
			}
		}()
	})
	live.Lock()
	defer live.Unlock()
	if live.clusters == nil {
		live.clusters = map[*Cluster]struct{}{}
	}
	live.clusters[c] = struct{}{}
}

func untrack(c *Cluster) {
	live.Lock()
	defer live.Unlock()
	delete(live.clusters, c)
}

func stopAll() {
	live.Lock()
	clusters := make([]*Cluster, 0, len(live.clusters))
	for c := range live.clusters {
		clusters = append(clusters, c)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, c := range clusters {
		wg.Go(c.Stop)
	}
	wg.Wait()
}

// removeStaleTempDirs removes the temporary directories of test binaries that
// died without stopping their clusters (SIGKILL, a test timeout's panic).
// Their processes are already gone: the kernel killed them with the parent.
func removeStaleTempDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, dir := range dirs {
		owner, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), tempDirPrefix), "-")
		pid, err := strconv.Atoi(owner)
		if !ok || err != nil || pid == os.Getpid() || processExists(pid) {
			continue
		}
		// A node leaves mounts (volumes, rootfs, netns) if killed; removing
		// through them would reach outside the directory's own files.
		if len(unmountUnder(dir)) > 0 {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
