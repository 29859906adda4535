package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/auditevent"
	"github.com/acme/identity/ent/user"
	"github.com/acme/identity/server/audit"
	"github.com/acme/identity/server/changelog"
	"github.com/acme/identity/server/instance/instancetest"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// openWriter opens the database at url with project p and tenant t, and
// returns a writer of it whose change log is followed until the test ends;
// inline as NewWriter's numberInline.
func openWriter(t *testing.T, url string, inline bool) (*ent.Client, time.Time, *store.Writer) {
	t.Helper()
	db, now, w, _ := openFollowed(t, url, inline)
	return db, now, w
}

// openFollowed is openWriter whose follower, also returned, feeds readers.
// On PostgreSQL the writer pipelines insertions, as an instance's does.
func openFollowed(t *testing.T, url string, inline bool, readers ...changelog.Reader) (*ent.Client, time.Time, *store.Writer, *changelog.Follower) {
	t.Helper()
	ctx := scope.System(context.Background())
	db, pool, now := openTenantPool(ctx, t, url)
	log := slog.New(slog.DiscardHandler)
	f := changelog.NewFollower(db, log, store.Settler(log), readers...)
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	if err := f.Start(runCtx); err != nil {
		t.Fatal(err)
	}
	w := store.NewWriter(db, log, time.Now, f, inline, store.WriteLock(url))
	if pool != nil {
		w.PipelineOn(pool)
	}
	return db, now, w, f
}

// userCreate returns a write creating user id of tenant t at now.
func userCreate(now time.Time) func(id string) func(ctx context.Context, tx *store.Tx) error {
	return func(id string) func(ctx context.Context, tx *store.Tx) error {
		return func(ctx context.Context, tx *store.Tx) error {
			if err := tx.User.Create().SetID(id).SetTenantID("t").SetUserName(id).SetUserNameKey(id).
				SetCreateTime(now).SetUpdateTime(now).SetVersion(1).Exec(ctx); err != nil {
				return err
			}
			tx.Record(changelog.UserCreated{Tenant: "t", User: changelog.UserID(id)})
			return nil
		}
	}
}

// gate is a change-log reader that holds back the records of user "held"
// until released.
type gate struct {
	entered, release chan struct{}
}

func (g gate) Apply(_ context.Context, _ string, records []changelog.Record) error {
	for _, r := range records {
		if e, ok := r.Event.(changelog.UserCreated); ok && e.User == "held" {
			g.entered <- struct{}{}
			<-g.release
		}
	}
	return nil
}

// TestAnsweredAtCommit: a write of the SCIM gateway, numbered after its
// commit, is answered at commit (revision 0) while this instance's readers do
// not hold it yet; a read of its tenant that begins after the answer (Await)
// waits until they do, and then reflects its revision, while another
// tenant's read does not wait; Drain waits for it. Any other write is
// answered once numbered and held.
func TestAnsweredAtCommit(t *testing.T) {
	for _, d := range instancetest.Databases() {
		t.Run(d.Name, func(t *testing.T) {
			g := gate{entered: make(chan struct{}, 1), release: make(chan struct{})}
			db, now, w, f := openFollowed(t, d.URL(t), false, g)
			create := userCreate(now)
			tenantCtx := scope.WithTenant(context.Background(), "p", "t")
			before, err := w.Insert(tenantCtx, create("first"))
			if err != nil || before == 0 {
				t.Fatalf("a write of the API answered revision %d (%v), want its number", before, err)
			}

			scimCtx := audit.With(scope.WithKnownTenant(context.Background(), "p", "t"), audit.Request{
				ActorKind: auditevent.ActorKindScimToken, ActorID: "token", Source: auditevent.SourceScim, Gateway: true})
			held := w.NewInsertion()
			held.Add(userRow("t", "held", "held", now))
			held.Record(changelog.UserCreated{Tenant: "t", User: "held"})
			rev, err := w.InsertRows(scimCtx, held)
			if err != nil || rev != 0 {
				t.Fatalf("the SCIM gateway's write answered %d (%v), want 0 at commit", rev, err)
			}
			// A read of the tenant begun after the answer; another
			// tenant's read does not wait for the write.
			read := make(chan int64, 1)
			go func() {
				got, err := f.Await(context.Background(), "p", "t", 0)
				if err != nil {
					t.Error(err)
				}
				read <- got
			}()
			if got, err := f.Await(context.Background(), "p", "other", 0); err != nil || got != before {
				t.Errorf("another tenant's read: revision %d (%v), want %d at once", got, err, before)
			}
			if n, err := db.User.Query().Where(user.ID("held")).Count(scope.System(context.Background())); err != nil || n != 1 {
				t.Fatalf("the answered write is not committed: %d rows (%v)", n, err)
			}
			<-g.entered // the follower numbered it and is handing it over
			select {
			case got := <-read:
				t.Fatalf("a read after the answer returned revision %d before the readers held the write", got)
			case <-time.After(100 * time.Millisecond):
			}
			close(g.release)
			if got := <-read; got <= before {
				t.Fatalf("the read after the answer reflects revision %d, want after %d", got, before)
			}
			drained, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			w.Drain(drained)
			if drained.Err() != nil {
				t.Fatal("Drain did not return once the write was held")
			}
		})
	}
}

// TestInsertsBesideTenantWrites holds a write of a tenant open on
// PostgreSQL (its row locked, as a membership change or a deactivation holds
// it) and requires a user create of the same tenant (Writer.InsertRows, pipelined) to commit
// meanwhile: an IdP's creates do not queue behind the tenant's other writes.
// (On SQLite every write runs alone.)
func TestInsertsBesideTenantWrites(t *testing.T) {
	var pg *instancetest.Database
	for _, d := range instancetest.Databases() {
		if d.Name == "postgres" {
			pg = &d
		}
	}
	if pg == nil {
		t.Skip("IDENTITY_TEST_POSTGRES is not set")
	}
	_, now, w := openWriter(t, pg.URL(t), false)
	tenantCtx := scope.WithTenant(context.Background(), "p", "t")

	locked, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		_, err := w.Write(tenantCtx, func(ctx context.Context, tx *store.Tx) error {
			close(locked)
			<-release
			return nil
		})
		held <- err
	}()
	<-locked
	insertCtx, cancel := context.WithTimeout(tenantCtx, 10*time.Second)
	defer cancel()
	ins := w.NewInsertion()
	ins.Add(userRow("t", "u", "ada", now))
	ins.Record(changelog.UserCreated{Tenant: "t", User: "u"})
	_, err := w.InsertRows(scope.WithKnownTenant(insertCtx, "p", "t"), ins)
	close(release)
	if err != nil {
		t.Fatalf("a user create while a write of its tenant is open: %v", err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// TestSharedTransactions queues writes behind one that holds SQLite's write
// turn, so that they commit in one shared transaction (see Writer), and
// requires each to keep its own outcome: the ones that succeed commit, each
// with its own revision, with no gap; a failing one, a panicking one (the
// panic reaches its caller) and one that changed nothing leave no row and no
// revision; a caller that gave up before its turn gets its context's error;
// a Write among them (which runs alone) commits too.
func TestSharedTransactions(t *testing.T) {
	ctx := scope.System(context.Background())
	db, now, w := openWriter(t, store.SQLiteURL(t.TempDir()), true)
	tenantCtx := scope.WithTenant(context.Background(), "p", "t")
	create := userCreate(now)
	errRefused := errors.New("refused after inserting")
	cancelled, cancel := context.WithCancel(tenantCtx)
	cases := []struct {
		name string
		ctx  context.Context
		fn   func(ctx context.Context, tx *store.Tx) error
		want string // "" commits
	}{
		{"first", tenantCtx, create("u1"), ""},
		{"fails", tenantCtx, func(ctx context.Context, tx *store.Tx) error {
			if err := create("bad")(ctx, tx); err != nil {
				return err
			}
			return errRefused
		}, "refused"},
		{"second", tenantCtx, create("u2"), ""},
		{"duplicate", tenantCtx, create("u0"), "constraint"},
		{"panics", tenantCtx, func(ctx context.Context, tx *store.Tx) error {
			if err := create("boom")(ctx, tx); err != nil {
				return err
			}
			panic("write panicked")
		}, "panic"},
		{"unchanged", tenantCtx, func(context.Context, *store.Tx) error { return nil }, ""},
		{"gave up", cancelled, create("late"), "canceled"},
		{"third", tenantCtx, create("u3"), ""},
		{"alone", tenantCtx, create("u4"), ""}, // a Write, which runs alone
	}
	// The holder keeps the write turn until every case is queued.
	holding, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		_, err := w.Insert(tenantCtx, func(ctx context.Context, tx *store.Tx) error {
			close(holding)
			<-release
			return create("u0")(ctx, tx)
		})
		held <- err
	}()
	<-holding
	cancel()
	type outcome struct {
		rev int64
		err error
	}
	outcomes := make([]chan outcome, len(cases))
	for i, c := range cases {
		outcomes[i] = make(chan outcome, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					outcomes[i] <- outcome{err: fmt.Errorf("panic: %v", p)}
				}
			}()
			write := w.Insert
			if c.name == "alone" {
				write = w.Write
			}
			rev, err := write(c.ctx, c.fn)
			outcomes[i] <- outcome{rev, err}
		}()
	}
	time.Sleep(100 * time.Millisecond) // all queued behind the holder
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	var revs []int64
	for i, c := range cases {
		o := <-outcomes[i]
		switch {
		case c.want == "" && o.err != nil:
			t.Errorf("%s: %v", c.name, o.err)
		case c.want != "" && (o.err == nil || !strings.Contains(o.err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error containing %q", c.name, o.err, c.want)
		case c.want == "" && c.name != "unchanged":
			revs = append(revs, o.rev)
		}
	}
	slices.Sort(revs)
	if want := []int64{2, 3, 4, 5}; !slices.Equal(revs, want) { // u0 took 1
		t.Errorf("revisions %v, want %v", revs, want)
	}
	ids := db.User.Query().IDsX(ctx)
	slices.Sort(ids)
	if want := []string{"u0", "u1", "u2", "u3", "u4"}; !slices.Equal(ids, want) {
		t.Errorf("users %v, want %v", ids, want)
	}
	if p := db.Project.GetX(ctx, "p"); p.Revision != 5 {
		t.Errorf("project revision %d, want 5", p.Revision)
	}
	if n := db.Change.Query().CountX(ctx); n != 5 {
		t.Errorf("%d change-log entries, want 5", n)
	}
}
