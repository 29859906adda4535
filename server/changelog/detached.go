package changelog

import (
	"context"
	"fmt"
)

// tickets number a tenant's detached writes 1, 2, … in the order they were
// answered (issued is the last); every ticket up to heldThrough is held by
// the readers, pending are the ones still waiting. A reader keeps the
// tickets it waits on: they are dropped from the project once none is
// pending, and a later write starts new ones.
type tickets struct {
	issued, heldThrough int64
	pending             map[int64]struct{}
}

// Detach says the committed write writeID of the project's tenant (""
// for a write of the project) is answered before it is numbered: this
// instance's reads of that tenant (and of the whole project) that begin from
// now on (Await) wait until the readers hold it, as they would for a write
// answered once numbered. held must be called exactly once, when the
// readers hold the write (or the writer gave up waiting for them).
func (f *Follower) Detach(projectID, tenantID, writeID string) (held func()) {
	f.writesMu.Lock()
	f.answered[writeID] = struct{}{}
	f.writesMu.Unlock()
	p := f.project(projectID)
	p.mu.Lock()
	if p.tickets == nil {
		p.tickets = map[string]*tickets{}
	}
	tk := p.tickets[tenantID]
	if tk == nil {
		tk = &tickets{pending: map[int64]struct{}{}}
		p.tickets[tenantID] = tk
	}
	tk.issued++
	ticket := tk.issued
	tk.pending[ticket] = struct{}{}
	p.detached.Add(1)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(tk.pending, ticket)
		p.detached.Add(-1)
		for tk.heldThrough < tk.issued {
			if _, waiting := tk.pending[tk.heldThrough+1]; waiting {
				break
			}
			tk.heldThrough++
		}
		if len(tk.pending) == 0 && p.tickets[tenantID] == tk {
			delete(p.tickets, tenantID)
		}
		p.notifyLocked()
	}
}

// awaitDetached waits until the readers hold every write detached before
// the call of the tenant (and of the project), or of every tenant when
// tenantID is "".
func (f *Follower) awaitDetached(ctx context.Context, p *projectState, tenantID string) error {
	if p.detached.Load() == 0 { // the common case: no lock taken
		return nil
	}
	type target struct {
		tk     *tickets
		ticket int64
	}
	var targets []target
	p.mu.Lock()
	for t, tk := range p.tickets {
		if tenantID == "" || t == tenantID || t == "" {
			targets = append(targets, target{tk, tk.issued})
		}
	}
	p.mu.Unlock()
	for _, tg := range targets {
		for {
			p.mu.Lock()
			held, advanced := tg.tk.heldThrough >= tg.ticket, p.advanced
			p.mu.Unlock()
			if held {
				break
			}
			f.wake()
			select {
			case <-advanced:
			case <-ctx.Done():
				return fmt.Errorf("wait for the writes answered before this read: %w", ctx.Err())
			}
		}
	}
	return nil
}
