// Command scimbench measures the SCIM gateway at scale, through real HTTP on
// loopback, against the core as identityd runs it: a tenant of -users users
// (seeded straight into the database), lookups by userName, a walk of every
// user with count=100 the way Okta imports, adding one member to a group of
// -big members against a group of 5, pages of 100 groups among -groups groups
// of -members members with excludedAttributes=members, and the provisioning
// rate of POST /Users at concurrency 8. Each latency is also given as a
// ratio to GET /ServiceProviderConfig measured in the same run (the same
// HTTP, authentication and gRPC hop, no storage).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/metadata"

	"github.com/acme/identity/cmd/internal/benchkit"
	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/tenantcount"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/ratelimit"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

func main() {
	users := flag.Int("users", 100_000, "users in the tenant")
	groups := flag.Int("groups", 1_000, "groups for the group-page measurement")
	members := flag.Int("members", 1_000, "members of each of those groups")
	big := flag.Int("big", 50_000, "members of the big group")
	provision := flag.Int("provision", 2_000, "users created through SCIM at concurrency 8")
	database := flag.String("database", "", "postgres:// URL; empty means SQLite in a temporary directory")
	floodOnly := flag.Bool("flood", false, "run only the fair-sharing measurement (one tenant flooding, another measured)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (server and load) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "scimbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*users, *groups, *members, *big, *provision, *database, *floodOnly); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "scimbench:", err)
		os.Exit(1)
	}
}

type bench struct {
	base   string
	bearer string
	client *http.Client
}

func (b *bench) do(method, path, body string) (int, []byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.bearer)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// timed runs f n times and returns the sorted durations.
func timed(n int, f func(i int) error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if err := f(i); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	slices.Sort(out)
	return out, nil
}

func p(ds []time.Duration, q int) time.Duration { return ds[min(len(ds)-1, len(ds)*q/100)] }

func expect(code int, raw []byte, err error, want int) error {
	if err != nil {
		return err
	}
	if code != want {
		return fmt.Errorf("status %d, want %d: %.300s", code, want, raw)
	}
	return nil
}

func run(nUsers, nGroups, nMembers, nBig, nProvision int, database string, floodOnly bool) error {
	ctx := context.Background()
	if database == "" {
		dir, err := os.MkdirTemp("", "scimbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		database = store.SQLiteURL(dir)
	}
	kind := "SQLite"
	if strings.HasPrefix(database, "postgres") {
		kind = "PostgreSQL"
	}
	fmt.Printf("machine: %d CPUs, %s/%s; database: %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, kind)

	// The server and its HTTP side, as identityd runs them.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	inst, err := instance.Start(ctx, instance.Config{DatabaseURL: database, PublicURL: "http://" + lis.Addr().String(), Log: log,
		KeyEncryptionKey: benchkit.KEK})
	if err != nil {
		return err
	}
	defer inst.Close()
	db, conn := inst.DB, inst.Conn
	root, err := authn.InitProject(ctx, db, "bench")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: inst.HTTP}
	go func() { _ = hs.Serve(lis) }()
	defer hs.Close()
	if floodOnly {
		return flood(ctx, database, root, log)
	}

	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+root)
	tenant, err := identityv1.NewTenantServiceClient(conn).CreateTenant(admin, &identityv1.CreateTenantRequest{DisplayName: "bench"})
	if err != nil {
		return err
	}
	tid := tenant.GetTenant().GetId()
	key, err := identityv1.NewAccessKeyServiceClient(conn).CreateAccessKey(admin, &identityv1.CreateAccessKeyRequest{
		Name: "okta", RoleBindings: []*identityv1.RoleBinding{{Role: authz.RoleTenantAdmin, TenantId: tid}},
	})
	if err != nil {
		return err
	}
	if _, err := identityv1.NewSsoServiceClient(conn).SetSamlConfig(admin, &identityv1.SetSamlConfigRequest{
		TenantId: tid, Metadata: &identityv1.SetSamlConfigRequest_MetadataXml{MetadataXml: benchkit.MetadataXML},
	}); err != nil {
		return err
	}

	started := time.Now()
	// Seeded straight into the database, as the system (no request scope).
	userIDs, groupIDs, bigID, smallID, err := seed(scope.System(ctx), db, tid, nUsers, nGroups, nMembers, nBig)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if kind == "PostgreSQL" {
		// Statistics as autovacuum keeps them on a database that grew through
		// the API; a bulk load this fast outruns it.
		if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
	}
	fmt.Printf("seeded %d users, %d groups of %d members, a group of %d and one of 5 in %s\n",
		nUsers, nGroups, nMembers, nBig, time.Since(started).Round(time.Millisecond))

	b := &bench{base: "http://" + lis.Addr().String() + "/scim/v2", bearer: key.GetCredential(), client: &http.Client{}}
	rng := rand.New(rand.NewPCG(3, 4))

	baseline, err := timed(500, func(int) error {
		c, raw, err := b.do("GET", "/ServiceProviderConfig", "")
		return expect(c, raw, err, 200)
	})
	if err != nil {
		return err
	}
	ratio := func(d time.Duration) string {
		return fmt.Sprintf("%.1fx baseline", float64(d)/float64(p(baseline, 50)))
	}
	fmt.Printf("baseline GET /ServiceProviderConfig: p50 %s p99 %s\n", p(baseline, 50).Round(time.Microsecond), p(baseline, 99).Round(time.Microsecond))

	lookups, err := timed(1000, func(int) error {
		name := fmt.Sprintf("USER%06d@EXAMPLE.COM", rng.IntN(nUsers))
		c, raw, err := b.do("GET", "/Users?filter="+urlq(`userName eq "`+name+`"`)+"&startIndex=1&count=100", "")
		if err := expect(c, raw, err, 200); err != nil {
			return err
		}
		if !bytes.Contains(raw, []byte(`"totalResults":1`)) {
			return fmt.Errorf("lookup of %s found %.200s", name, raw)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("GET /Users?filter=userName eq (%d users): p50 %s p99 %s (p99 %s)\n", nUsers,
		p(lookups, 50).Round(time.Microsecond), p(lookups, 99).Round(time.Microsecond), ratio(p(lookups, 99)))

	// The Okta import walk: startIndex = 1, 101, 201, ...
	var pages []time.Duration
	seen := 0
	for start := 1; ; start += 100 {
		t0 := time.Now()
		c, raw, err := b.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=100", start), "")
		if err := expect(c, raw, err, 200); err != nil {
			return err
		}
		pages = append(pages, time.Since(t0))
		var lr struct{ Resources []json.RawMessage }
		if err := json.Unmarshal(raw, &lr); err != nil {
			return err
		}
		seen += len(lr.Resources)
		if len(lr.Resources) == 0 {
			pages = pages[:len(pages)-1]
			break
		}
	}
	avg := func(ds []time.Duration) time.Duration {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return sum / time.Duration(len(ds))
	}
	first, last := avg(pages[:5]), avg(pages[len(pages)-5:])
	fmt.Printf("walk of all users with count=100: %d pages, %d users; first 5 pages avg %s, last 5 avg %s: last/first %.2f\n",
		len(pages), seen, first.Round(time.Microsecond), last.Round(time.Microsecond), float64(last)/float64(first))

	addOne := func(groupID string) ([]time.Duration, error) {
		return timed(200, func(int) error {
			uid := userIDs[nBig+rng.IntN(len(userIDs)-nBig)] // never already in the big group
			body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid)
			c, raw, err := b.do("PATCH", "/Groups/"+groupID, body)
			if err := expect(c, raw, err, 204); err != nil {
				return err
			}
			body = fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, uid)
			c, raw, err = b.do("PATCH", "/Groups/"+groupID, body)
			return expect(c, raw, err, 204)
		})
	}
	small, err := addOne(smallID)
	if err != nil {
		return err
	}
	large, err := addOne(bigID)
	if err != nil {
		return err
	}
	fmt.Printf("add+remove one member: group of 5 p50 %s, group of %d p50 %s: ratio %.2f\n",
		p(small, 50).Round(time.Microsecond), nBig, p(large, 50).Round(time.Microsecond), float64(p(large, 50))/float64(p(small, 50)))

	groupPages, err := timed(100, func(i int) error {
		start := 1 + 100*(i%max(1, len(groupIDs)/100))
		c, raw, err := b.do("GET", fmt.Sprintf("/Groups?startIndex=%d&count=100&excludedAttributes=members", start), "")
		return expect(c, raw, err, 200)
	})
	if err != nil {
		return err
	}
	fmt.Printf("GET /Groups?count=100&excludedAttributes=members (%d groups of %d members): p50 %s p99 %s\n", nGroups, nMembers,
		p(groupPages, 50).Round(time.Microsecond), p(groupPages, 99).Round(time.Microsecond))

	var created atomic.Int64
	var firstErr atomic.Value
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < nProvision; i += 8 {
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new%06d@example.com","name":{"givenName":"N","familyName":"%d"},"emails":[{"primary":true,"value":"new%06d@example.com","type":"work"}],"active":true}`, i, i, i)
				c, raw, err := b.do("POST", "/Users", body)
				if err := expect(c, raw, err, 201); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	elapsed := time.Since(t0)
	fmt.Printf("provisioning: %d users through POST /Users at concurrency 8 in %s: %.0f users/s\n",
		created.Load(), elapsed.Round(time.Millisecond), float64(created.Load())/elapsed.Seconds())
	return flood(ctx, database, root, log)
}

// flood measures fair sharing: a second instance on the same database, with
// identityd's default limits, serves one tenant's SCIM GET and POST at 20
// requests/s each while another tenant loads it, first at exactly its rate
// limit (100 POST/s, its whole allowance), then with 16 clients POSTing as
// fast as they can; it reports the quiet tenant's p99 under each load against
// its idle p99, measured in the same run.
func flood(ctx context.Context, database, root string, log *slog.Logger) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	limits := ratelimit.Limits{PerCredential: 100, CredentialBurst: 200, PerTenant: 300, TenantBurst: 600, ConcurrentPerTenant: 8}
	inst, err := instance.Start(ctx, instance.Config{DatabaseURL: database, PublicURL: "http://" + lis.Addr().String(), Log: log, RateLimits: limits,
		KeyEncryptionKey: benchkit.KEK})
	if err != nil {
		return err
	}
	defer inst.Close()
	hs := &http.Server{Handler: inst.HTTP}
	go func() { _ = hs.Serve(lis) }()
	defer hs.Close()
	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+root)
	token := func(name string) (string, error) { return benchkit.ScimTenant(admin, inst.Conn, name) }
	loud, err := token("loud")
	if err != nil {
		return err
	}
	quietToken, err := token("quiet")
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	quiet := &bench{base: "http://" + lis.Addr().String() + "/scim/v2", bearer: quietToken, client: client}
	var n atomic.Int64
	// paced runs f samples times at 20 requests/s (within the quiet tenant's
	// own limits) and returns the sorted durations of the calls.
	paced := func(samples int, f func() error) ([]time.Duration, error) {
		var out []time.Duration
		tick := time.Now()
		for range samples {
			tick = tick.Add(50 * time.Millisecond)
			time.Sleep(time.Until(tick))
			t0 := time.Now()
			if err := f(); err != nil {
				return nil, err
			}
			out = append(out, time.Since(t0))
		}
		slices.Sort(out)
		return out, nil
	}
	// measure runs the quiet tenant's GETs and POSTs side by side (600 of
	// each for a figure: a p99 is then the 7th slowest, not the 3rd) and
	// returns their p50 and p99.
	measure := func(samples int) (get, post [2]time.Duration, err error) {
		var gets, posts []time.Duration
		var getErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			gets, getErr = paced(samples, func() error {
				c, raw, err := quiet.do("GET", "/Users?filter="+urlq(`userName eq "nobody@example.com"`), "")
				return expect(c, raw, err, 200)
			})
		}()
		posts, err = paced(samples, func() error {
			i := n.Add(1)
			c, raw, err := quiet.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"quiet%06d@example.com"}`, i))
			return expect(c, raw, err, 201)
		})
		<-done
		if err == nil {
			err = getErr
		}
		if err != nil {
			return get, post, err
		}
		return [2]time.Duration{p(gets, 50), p(gets, 99)}, [2]time.Duration{p(posts, 50), p(posts, 99)}, nil
	}
	// A warm-up first (the new instance's caches, its heap's growth), then
	// the idle figures.
	if _, _, err := measure(100); err != nil {
		return err
	}
	idleGet, idlePost, err := measure(600)
	if err != nil {
		return err
	}
	flooder := &bench{base: quiet.base, bearer: loud, client: client}
	var seq atomic.Int64
	// load runs clients POSTing as the loud tenant while the quiet one is
	// measured; every > 0 paces each client to one request per every.
	load := func(clients int, every time.Duration) (created, limited, failed float64, get, post [2]time.Duration, err error) {
		stop := make(chan struct{})
		var accepted, refused, other atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Paced clients are spaced evenly over the period (10 x
				// 10/s is a request every 10 ms), as an IdP's steady push
				// arrives, not all at each tick.
				tick := start.Add(time.Duration(i) * every / time.Duration(clients))
				for {
					select {
					case <-stop:
						return
					default:
					}
					if every > 0 {
						tick = tick.Add(every)
						time.Sleep(time.Until(tick))
					}
					c, _, err := flooder.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"loud%08d@example.com"}`, seq.Add(1)))
					switch {
					case err == nil && c == http.StatusCreated:
						accepted.Add(1)
					case err == nil && c == http.StatusTooManyRequests:
						refused.Add(1)
					default:
						other.Add(1)
					}
				}
			}()
		}
		t0 := time.Now()
		get, post, err = measure(600)
		close(stop)
		wg.Wait()
		secs := time.Since(t0).Seconds()
		return float64(accepted.Load()) / secs, float64(refused.Load()) / secs, float64(other.Load()), get, post, err
	}
	report := func(what string, clients int, every time.Duration) error {
		created, limited, failed, get, post, err := load(clients, every)
		if err != nil {
			return err
		}
		fmt.Printf("%s: loud tenant %.0f created/s, %.0f answered 429/s, %.0f other answers\n", what, created, limited, failed)
		for _, m := range []struct {
			name        string
			idle, under [2]time.Duration
		}{{"GET", idleGet, get}, {"POST", idlePost, post}} {
			fmt.Printf("  quiet tenant %s p99 idle / loaded: %s / %s (%.2fx); p50 %s / %s (%.2fx)\n", m.name,
				m.idle[1].Round(time.Microsecond), m.under[1].Round(time.Microsecond), float64(m.under[1])/float64(m.idle[1]),
				m.idle[0].Round(time.Microsecond), m.under[0].Round(time.Microsecond), float64(m.under[0])/float64(m.idle[0]))
		}
		return nil
	}
	// At the limit: 10 clients, each 10 requests/s, is the credential's
	// 100/s; then a flood far past it from as many connections as can wait
	// for the rate (ratelimit.MaxQueued); then from more, which are refused.
	if err := report("at the limit (10 clients x 10 POST/s)", 10, 100*time.Millisecond); err != nil {
		return err
	}
	if err := report(fmt.Sprintf("flood (%d clients, no pause)", ratelimit.MaxQueued/2), ratelimit.MaxQueued/2, 0); err != nil {
		return err
	}
	return report(fmt.Sprintf("flood past the queue (%d clients, no pause)", 2*ratelimit.MaxQueued), 2*ratelimit.MaxQueued, 0)
}

func urlq(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "@", "%40")
	return r.Replace(s)
}

// seed writes the fixture straight through ent in bulk: over a million rows
// one API call at a time would take far longer than the measurements. Rows
// written behind the server's back reach its role index only at the next
// start (their count is set here, as the server's creates would); this benchmark measures SCIM reads and membership writes, which do
// not read the index.
func seed(ctx context.Context, db *ent.Client, tid string, nUsers, nGroups, nMembers, nBig int) ([]string, []string, string, string, error) {
	now := time.Now().UTC()
	userIDs := make([]string, nUsers)
	for start := 0; start < nUsers; start += 1000 {
		var us []*ent.UserCreate
		var es []*ent.EmailCreate
		for i := start; i < min(start+1000, nUsers); i++ {
			userIDs[i] = uuid.Must(uuid.NewV7()).String()
			name := fmt.Sprintf("user%06d@example.com", i)
			us = append(us, db.User.Create().SetID(userIDs[i]).SetTenantID(tid).SetUserName(name).SetUserNameKey(name).
				SetActive(true).SetCreateTime(now).SetUpdateTime(now).SetVersion(1))
			es = append(es, db.Email.Create().SetTenantID(tid).SetUserID(userIDs[i]).SetValue(name).SetValueKey(name).SetType("work").SetPrimary(true).SetPosition(0))
		}
		if err := db.User.CreateBulk(us...).Exec(ctx); err != nil {
			return nil, nil, "", "", err
		}
		if err := db.Email.CreateBulk(es...).Exec(ctx); err != nil {
			return nil, nil, "", "", err
		}
	}
	newGroup := func(name string) (string, error) {
		id := uuid.Must(uuid.NewV7()).String()
		return id, db.Group.Create().SetID(id).SetTenantID(tid).SetDisplayName(name).SetDisplayNameKey(name).
			SetCreateTime(now).SetUpdateTime(now).SetVersion(1).Exec(ctx)
	}
	addMembers := func(gid string, ids []string) error {
		for part := range slices.Chunk(ids, 1000) {
			var ms []*ent.GroupMembershipCreate
			for _, uid := range part {
				ms = append(ms, db.GroupMembership.Create().SetTenantID(tid).SetGroupID(gid).SetUserID(uid).SetCreateTime(now))
			}
			if err := db.GroupMembership.CreateBulk(ms...).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	groupIDs := make([]string, nGroups)
	for i := range nGroups {
		gid, err := newGroup(fmt.Sprintf("team-%04d", i))
		if err != nil {
			return nil, nil, "", "", err
		}
		groupIDs[i] = gid
		off := (i * nMembers) % max(1, nUsers-nMembers)
		if err := addMembers(gid, userIDs[off:off+min(nMembers, nUsers)]); err != nil {
			return nil, nil, "", "", err
		}
	}
	bigID, err := newGroup("big")
	if err != nil {
		return nil, nil, "", "", err
	}
	if err := addMembers(bigID, userIDs[:min(nBig, nUsers)]); err != nil {
		return nil, nil, "", "", err
	}
	smallID, err := newGroup("small")
	if err != nil {
		return nil, nil, "", "", err
	}
	if err := addMembers(smallID, userIDs[:5]); err != nil {
		return nil, nil, "", "", err
	}
	// The tenant's counters, which the server's own creates keep.
	err = db.TenantCount.CreateBulk(
		db.TenantCount.Create().SetTenantID(tid).SetKind(tenantcount.KindUser).SetShard(0).SetN(int64(nUsers)),
		db.TenantCount.Create().SetTenantID(tid).SetKind(tenantcount.KindGroup).SetShard(0).SetN(int64(nGroups+2)),
	).Exec(ctx)
	return userIDs, groupIDs, bigID, smallID, err
}
