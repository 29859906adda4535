package store

import "sync"

// WriteTurns is the lock the writers of one database in this process share
// where the database runs one write at a time (SQLite); elsewhere it is no
// lock. Writers wait their turn by key (a tenant, or "" for writes of the
// project or the service), round-robin: the next write is the first waiting
// one of the key after the last key served, so a tenant with many writes
// queued delays another tenant's write by at most one of its own, not by
// all of them (a plain mutex hands the lock to whichever waiter the
// scheduler wakes). The Writer's turns are its batches (see batcher), which
// take every write that shares queued at once, whatever its tenant.
type WriteTurns struct {
	serial bool

	mu     sync.Mutex
	held   bool
	queues map[string][]chan struct{} // the waiting writers of each key, in order
	order  []string                   // the keys with writers waiting, in turn order
}

// WriteLock returns the turns the writers of the database at rawURL share.
func WriteLock(rawURL string) *WriteTurns {
	return &WriteTurns{serial: SerializesWrites(rawURL), queues: map[string][]chan struct{}{}}
}

// Lock waits for a turn of key's writers.
func (t *WriteTurns) Lock(key string) {
	if !t.serial {
		return
	}
	t.mu.Lock()
	if !t.held {
		t.held = true
		t.mu.Unlock()
		return
	}
	turn := make(chan struct{})
	if len(t.queues[key]) == 0 {
		t.order = append(t.order, key)
	}
	t.queues[key] = append(t.queues[key], turn)
	t.mu.Unlock()
	<-turn
}

// Unlock ends the turn: the lock passes to the next key's first writer, or
// is free when none waits.
func (t *WriteTurns) Unlock() {
	if !t.serial {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.order) == 0 {
		t.held = false
		return
	}
	key := t.order[0]
	t.order = t.order[1:]
	waiting := t.queues[key]
	if len(waiting) == 1 {
		delete(t.queues, key)
	} else {
		t.queues[key] = waiting[1:]
		t.order = append(t.order, key) // its next writer waits for the others' turns
	}
	close(waiting[0]) // held passes on
}

// For returns the turns of key's writers as a sync.Locker.
func (t *WriteTurns) For(key string) sync.Locker { return keyedTurns{t, key} }

type keyedTurns struct {
	t   *WriteTurns
	key string
}

func (k keyedTurns) Lock()   { k.t.Lock(k.key) }
func (k keyedTurns) Unlock() { k.t.Unlock() }
