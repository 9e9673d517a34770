//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestProtectionStorm races deployment creates and deletes against deletes
// and re-creates of their target on two replicas behind the proxy, kills the
// leader midway, and checks that no deployment is ever left pointing at a
// missing target. A round is one deployment of a worker created and deleted
// again; attempts the webhooks deny (the target is being deleted or gone)
// are retried as the suite polls, as a user would.
func TestProtectionStorm(t *testing.T) {
	e := startProtection(t, 2, "protect")
	platformNS := e.ns[0]
	const (
		workers = 8
		rounds  = 50
		target  = "storm"
		// The leader is killed once half of the rounds are done and the
		// target has gone through this many delete and re-create cycles.
		killAfterCycles = 1
		// maxRounds bounds each worker's rounds however slow the cycles are.
		maxRounds = 20 * rounds
	)
	cms := e.client.CoreV1().ConfigMaps(platformNS)
	{
		ctx, cancel := opCtx()
		if _, err := cms.Create(ctx, targetCM(platformNS, target), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	e.leader(t, time.Minute)
	var (
		ops, attempts, denied, failed, roundsDone atomic.Int64
		cycles, cyclesAfterKill, deleteDenied     atomic.Int64
		danglingSeen                              atomic.Int64
		killed                                    atomic.Bool
		mu                                        sync.Mutex
		denials                                   = map[string]int{}
	)
	classify := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		msg := err.Error()
		switch {
		case strings.Contains(msg, "is being deleted"):
			denials["target terminating"]++
		case strings.Contains(msg, "does not exist"):
			denials["target missing"]++
		case strings.Contains(msg, "is referenced by"):
			denials["target referenced"]++
		case strings.Contains(msg, "failed calling webhook"):
			denials["webhook call failed"]++
		default:
			denials["other: "+firstLine(msg)]++
		}
	}
	stopChecker, stopDeleter := make(chan struct{}), make(chan struct{})
	// freed tells the deleter that a deployment went away; workersDone,
	// that no more will.
	freed, workersDone := make(chan struct{}, 1), make(chan struct{})
	var checker, deleter sync.WaitGroup
	// The checker: a live list, every 200 ms, of deployments whose target is missing.
	checker.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopChecker:
				return
			case <-tick.C:
			}
			if d, err := danglingLive(e.client, platformNS); err == nil && len(d) > 0 {
				danglingSeen.Add(1)
				t.Errorf("deployments pointing at a missing target: %v", d)
			}
		}
	})
	// The target's deleter and re-creator.
	deleter.Go(func() {
		retry := time.NewTicker(pollEvery)
		defer retry.Stop()
		hold := time.NewTimer(0)
		defer hold.Stop()
		<-hold.C
		for {
			select {
			case <-stopDeleter:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			err := cms.Delete(ctx, target, metav1.DeleteOptions{})
			ops.Add(1)
			switch {
			case err == nil:
				// Wait until flinkgate releases it, then bring it back.
				waitDeadline := time.Now().Add(90 * time.Second)
				poll(time.Until(waitDeadline), gone(e.client, platformNS, target))
				if created, _ := poll(time.Until(waitDeadline), func() (bool, error) {
					_, err := cms.Create(ctx, targetCM(platformNS, target), metav1.CreateOptions{})
					ops.Add(1)
					return err == nil, err
				}); created {
					cycles.Add(1)
					if killed.Load() {
						cyclesAfterKill.Add(1)
					}
					// Pacing: the workers have the target for as long
					// as a deletion takes it from them, at least the
					// settle time, so the storm runs about half of the
					// time against a target they may use.
					hold.Reset(settleTime)
					select {
					case <-hold.C:
					case <-stopDeleter:
					}
				}
			case apierrors.IsNotFound(err):
			default:
				deleteDenied.Add(1)
				classify(err)
				// Only a deployment going away lets a refused delete
				// through: it is tried again when one has, and, once
				// the workers are done, as the suite polls.
				select {
				case <-freed:
				case <-stopDeleter:
				case <-workersDone:
					retry.Reset(pollEvery)
					<-retry.C
				}
			}
			cancel()
		}
	})
	started := time.Now()
	var workersWG sync.WaitGroup
	for w := range workers {
		workersWG.Go(func() {
			// At least rounds rounds, and on until a target cycle has completed
			// under the new leader: on a quiet machine the rounds alone end
			// before the first target cycle (its settle time) allows the kill.
			// Pacing, not a wait for an outcome: after each round a
			// worker rests as long as its deployment lived (create and
			// delete), so it references the target at most half of the
			// time on a quick machine as on a loaded one: the deleter
			// finds moments without referrers, and creates still race
			// its deletes.
			pace := time.NewTimer(0)
			defer pace.Stop()
			<-pace.C
			var lived time.Duration
			for r := 0; r < rounds || (r < maxRounds && (!killed.Load() || cyclesAfterKill.Load() == 0)); r++ {
				name := fmt.Sprintf("d-%d-%d", w, r)
				// A denied or failed create is tried again until the
				// deployment is admitted, within the storm's own bound.
				if ok, err := poll(2*time.Minute, func() (bool, error) {
					ctx, cancel := opCtx()
					defer cancel()
					began := time.Now()
					_, err := cms.Create(ctx, deploymentCM(platformNS, name, target), metav1.CreateOptions{})
					ops.Add(1)
					attempts.Add(1)
					if err == nil {
						if err := deleteRetrying(ctx, cms.Delete, name, &ops); err != nil {
							t.Errorf("delete deployment %s: %v", name, err)
						}
						lived = time.Since(began)
						select {
						case freed <- struct{}{}:
						default:
						}
						return true, nil
					}
					if apierrors.IsForbidden(err) {
						denied.Add(1)
					} else {
						failed.Add(1) // a webhook call cut by the leader's kill fails closed
					}
					classify(err)
					return false, err
				}); !ok {
					t.Errorf("deployment %s was not admitted within 2m: %v", name, err)
				}
				roundsDone.Add(1)
				pace.Reset(lived)
				<-pace.C
			}
		})
	}
	// Kill the leader midway, as a crash would: no lease release.
	waitUntil(t, 2*time.Minute, fmt.Sprintf("half of the rounds and %d target cycles", killAfterCycles), func() (bool, error) {
		return roundsDone.Load() >= workers*rounds/2 && cycles.Load() >= killAfterCycles, nil
	})
	dead := e.leader(t, time.Minute)
	e.fgs[dead].Kill()
	killed.Store(true)
	killedAt, roundsAtKill := time.Since(started), roundsDone.Load()
	workersWG.Wait()
	close(workersDone)
	took := time.Since(started)
	if roundsAtKill >= workers*maxRounds {
		t.Errorf("the leader was killed after the storm (%d rounds done), not in the middle of it", roundsAtKill)
	}
	// The deployments are gone; the deleter shows the new leader releasing.
	waitUntil(t, 2*time.Minute, "a target cycle completed under the new leader", func() (bool, error) { return cyclesAfterKill.Load() > 0, nil })
	close(stopDeleter)
	deleter.Wait()
	close(stopChecker)
	checker.Wait()
	t.Logf("killed the leader, replica %d, %s into the storm after %d rounds", dead, killedAt.Round(time.Millisecond), roundsAtKill)
	t.Logf("storm: %d workers x %d rounds in %s, %d API operations: %d deployment creates attempted, %d denied, %d failed; target deleted and re-created %d times (%d under the new leader), %d target deletes denied; by cause %v; proxy connections %v",
		workers, rounds, took.Round(time.Millisecond), ops.Load(), attempts.Load(), denied.Load(), failed.Load(), cycles.Load(), cyclesAfterKill.Load(), deleteDenied.Load(), denials, e.proxy.Connections())

	t.Run("the other replica takes the lease after the leader is killed", func(t *testing.T) {
		l := e.leader(t, time.Minute)
		if l == dead {
			t.Fatalf("the killed replica %d still leads", dead)
		}
		ctx, cancel := opCtx()
		defer cancel()
		lease, err := e.client.CoordinationV1().Leases(platformNS).Get(ctx, "flinkgate-protection", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("lease held by %s after %d transitions", *lease.Spec.HolderIdentity, *lease.Spec.LeaseTransitions)
	})
	t.Run("no deployment ever referenced a missing target", func(t *testing.T) {
		if n := danglingSeen.Load(); n > 0 {
			t.Fatalf("%d live lists showed deployments pointing at nothing", n)
		}
		if d, err := danglingLive(e.client, platformNS); err != nil || len(d) > 0 {
			t.Fatalf("deployments pointing at nothing: %v (%v)", d, err)
		}
	})
	t.Run("the new leader's dangling gauge reads zero", func(t *testing.T) {
		l := e.leader(t, time.Minute)
		waitUntil(t, 30*time.Second, "flinkgate_dangling_deployments to read 0", func() (bool, error) {
			v, ok := metric(t, e.fgs[l], "flinkgate_dangling_deployments", `namespace="`+platformNS+`"`)
			return ok && v == 0, nil
		})
	})
}

// deleteRetrying deletes a deployment, retrying calls that a killed
// replica cut off (the webhooks fail closed); deployments may always go.
func deleteRetrying(ctx context.Context, del func(context.Context, string, metav1.DeleteOptions) error, name string, ops *atomic.Int64) error {
	// As long as the 20 tries 200 ms apart it had: the proxy sends the next
	// call to a live replica.
	_, err := poll(5*time.Second, func() (bool, error) {
		err := del(ctx, name, metav1.DeleteOptions{})
		ops.Add(1)
		return err == nil || apierrors.IsNotFound(err), err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
