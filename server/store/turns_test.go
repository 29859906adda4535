package store

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWriteTurns: writers of a key with many queued take turns with another
// key's writer, which waits for one of them, not for all; PostgreSQL's
// turns lock nothing.
func TestWriteTurns(t *testing.T) {
	turns := WriteLock("file:x")
	turns.Lock("")
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	queued := func(key string, n int) {
		for {
			turns.mu.Lock()
			got := len(turns.queues[key])
			turns.mu.Unlock()
			if got == n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	writer := func(key, name string) {
		wg.Go(func() {
			turns.Lock(key)
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			turns.Unlock()
		})
	}
	for i, name := range []string{"busy1", "busy2", "busy3", "busy4"} {
		writer("busy", name)
		queued("busy", i+1)
	}
	writer("quiet", "quiet")
	queued("quiet", 1)
	turns.Unlock()
	wg.Wait()
	if want := []string{"busy1", "quiet", "busy2", "busy3", "busy4"}; !slices.Equal(order, want) {
		t.Fatalf("turns %v, want %v", order, want)
	}
	if turns.held || len(turns.order) != 0 || len(turns.queues) != 0 {
		t.Fatalf("not free after the last turn: held=%v order=%v", turns.held, turns.order)
	}

	pg := WriteLock("postgres://x")
	pg.Lock("a")
	pg.Lock("a") // no lock: does not wait
	pg.Unlock()
	pg.Unlock()
}
