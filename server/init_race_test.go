package server_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

// TestFirstStartsRace starts several first starts on one empty database at
// once, each with its own connections as separate instances would: every
// one migrates the schema without failing, exactly one creates the project,
// the others are told it exists.
func TestFirstStartsRace(t *testing.T) {
	forEachDB(t, func(t *testing.T, db database) {
		url := db.url(t)
		ctx := context.Background()
		const starts = 8
		var wg sync.WaitGroup
		begin := make(chan struct{})
		errs := make([]error, starts)
		var opened sync.WaitGroup
		for i := range starts {
			wg.Add(1)
			opened.Add(1)
			go func() {
				defer wg.Done()
				client, err := store.Open(ctx, url) // all migrate the empty database at once
				opened.Done()
				if err != nil {
					errs[i] = err
					return
				}
				defer client.Close()
				<-begin // then all look for the project at once
				_, errs[i] = authn.InitProject(ctx, client, "race")
			}()
		}
		opened.Wait()
		close(begin)
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, authn.ErrInitialized):
				t.Errorf("a start failed: %v", err)
			}
		}
		client, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		n, err := client.Project.Query().Count(scope.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		if created != 1 || n != 1 {
			t.Fatalf("%d starts created a project; the database holds %d", created, n)
		}
	})
}
