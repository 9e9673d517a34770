package memo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func keepFor(d time.Duration) func(int, error) time.Duration {
	return func(_ int, err error) time.Duration {
		if err != nil {
			return 0
		}
		return d
	}
}

func TestRecall(t *testing.T) {
	cases := []struct {
		name    string
		answer  error
		advance time.Duration
		want    bool
	}{
		{name: "An answer is recalled before its time to live ends.", advance: 9 * time.Second, want: true},
		{name: "An answer is not recalled once its time to live has ended.", advance: 10 * time.Second},
		{name: "A failed question is not remembered.", answer: errors.New("refused")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(time.Unix(1000, 0))
			m := New(Options[int]{TTL: keepFor(10 * time.Second), Timeout: time.Second, Max: 10, Now: clk.Now})
			if _, err := m.Ask(context.Background(), "k", func(context.Context) (int, error) { return 7, tc.answer }); !errors.Is(err, tc.answer) {
				t.Fatalf("ask: %v, want %v", err, tc.answer)
			}
			clk.Step(tc.advance)
			v, ok := m.Recall("k")
			if ok != tc.want || (ok && v != 7) {
				t.Errorf("recall = %d, %t; want 7, %t", v, ok, tc.want)
			}
		})
	}
}

func TestAsk(t *testing.T) {
	t.Run("Concurrent callers of one key share one question.", func(t *testing.T) {
		joined := make(chan struct{}, 8)
		m := New(Options[int]{TTL: keepFor(time.Minute), Timeout: time.Minute, Max: 10, Joined: func() { joined <- struct{}{} }})
		release := make(chan struct{})
		var asked atomic.Int32
		ask := func(context.Context) (int, error) { asked.Add(1); <-release; return 1, nil }
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if v, err := m.Ask(context.Background(), "k", ask); v != 1 || err != nil {
					t.Errorf("ask = %d, %v; want 1, nil", v, err)
				}
			})
		}
		for range 8 {
			<-joined
		}
		close(release)
		wg.Wait()
		if n := asked.Load(); n != 1 {
			t.Errorf("%d questions asked, want 1", n)
		}
	})
	t.Run("A caller whose context ends gets its cause while the question goes on for the others.", func(t *testing.T) {
		m := New(Options[int]{TTL: keepFor(time.Minute), Timeout: time.Minute, Max: 10})
		release := make(chan struct{})
		var questionErr atomic.Value
		ask := func(qctx context.Context) (int, error) {
			<-release
			questionErr.Store(fmt.Sprint(qctx.Err()))
			return 5, nil
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		cause := errors.New("the request ended")
		cancel(cause)
		if _, err := m.Ask(ctx, "k", ask); !errors.Is(err, cause) {
			t.Fatalf("ask with an ended context: %v, want %v", err, cause)
		}
		close(release)
		v, err := m.Ask(context.Background(), "k", ask)
		if v != 5 || err != nil {
			t.Fatalf("second ask = %d, %v; want 5, nil", v, err)
		}
		if got := questionErr.Load(); got != "<nil>" {
			t.Errorf("the shared question saw its context end (%v); it must run detached", got)
		}
	})
	t.Run("The question is bounded by the timeout whatever the caller's context.", func(t *testing.T) {
		m := New(Options[int]{TTL: keepFor(time.Minute), Timeout: 10 * time.Millisecond, Max: 10})
		_, err := m.Ask(context.Background(), "k", func(qctx context.Context) (int, error) {
			<-qctx.Done()
			return 0, qctx.Err()
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ask: %v, want the deadline exceeded", err)
		}
	})
}

func TestBound(t *testing.T) {
	cases := []struct {
		name     string
		expireA  bool
		wantKept []string
	}{
		{name: "A full memo drops an expired answer and keeps every live one.", expireA: true, wantKept: []string{"b", "c", "d"}},
		{name: "A memo full of live answers drops an arbitrary one and keeps the new one.", wantKept: []string{"d"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := testingclock.NewFakeClock(time.Unix(1000, 0))
			m := New(Options[int]{TTL: keepFor(time.Minute), Timeout: time.Second, Max: 3, Now: clk.Now})
			ask := func(context.Context) (int, error) { return 1, nil }
			for _, k := range []string{"a", "b", "c", "d"} {
				if k == "b" && tc.expireA {
					clk.Step(2 * time.Minute)
				}
				if _, err := m.Ask(context.Background(), k, ask); err != nil {
					t.Fatal(err)
				}
				if n := m.Len(); n > 3 {
					t.Fatalf("%d answers kept, want at most 3", n)
				}
			}
			for _, k := range tc.wantKept {
				if _, ok := m.Recall(k); !ok {
					t.Errorf("answer %q was dropped", k)
				}
			}
		})
	}
}
