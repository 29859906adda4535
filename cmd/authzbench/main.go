// Command authzbench measures CheckRole against the standard gRPC health
// Check on one identityd server: a tenant of -users users, -groups groups and
// -roles roles (each user in about -per-user groups), the full production
// interceptor chain, one connection per load worker. It prints throughput and
// p50/p99 latency of both at each concurrency, BatchCheck of 100 (as messages
// and as columns) against one
// CheckRole, the index's memory and rebuild time, and ends with
// `ratio c1=X c16=Y c64=Z` (CheckRole throughput over health's).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/acme/identity/cmd/internal/benchkit"
	"github.com/acme/identity/ent"
	"github.com/acme/identity/ent/schema"
	identityv1 "github.com/acme/identity/gen/identity/v1"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/authz"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/store"
	"github.com/acme/identity/server/store/scope"
)

func main() {
	users := flag.Int("users", 100_000, "users in the tenant")
	groups := flag.Int("groups", 1_000, "groups in the tenant")
	roles := flag.Int("roles", 100, "roles in the tenant")
	perUser := flag.Int("per-user", 3, "groups per user")
	duration := flag.Duration("duration", 5*time.Second, "load time per measurement")
	levels := flag.String("concurrency", "1,16,64", "concurrency levels")
	database := flag.String("database", "", "postgres:// URL; empty means SQLite in a temporary directory")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the load phase here")
	flag.Parse()
	profile = *cpuprofile
	if err := run(*users, *groups, *roles, *perUser, *duration, *levels, *database); err != nil {
		fmt.Fprintln(os.Stderr, "authzbench:", err)
		os.Exit(1)
	}
}

func run(nUsers, nGroups, nRoles, perUser int, duration time.Duration, levels, database string) error {
	ctx := context.Background()
	if database == "" {
		dir, err := os.MkdirTemp("", "authzbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		database = store.SQLiteURL(dir)
	}
	db, err := store.Open(ctx, database)
	if err != nil {
		return err
	}
	root, err := authn.InitProject(ctx, db, "bench")
	if err != nil {
		return err
	}
	projectID, _, _ := strings.Cut(root, ":")
	fmt.Printf("machine: %d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel())
	started := time.Now()
	// Seeded straight into the database, as the system (no request scope).
	tenantID, userIDs, roleNames, err := seed(scope.System(ctx), db, projectID, nUsers, nGroups, nRoles, perUser)
	db.Close()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Printf("seeded %d users, %d groups, %d roles, %d groups per user in %s\n", nUsers, nGroups, nRoles, perUser, time.Since(started).Round(time.Millisecond))

	// The server, as identityd runs it; logs as identityd writes them (only
	// failed calls, at this level).
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	before := heap()
	started = time.Now()
	inst, err := instance.Start(ctx, instance.Config{DatabaseURL: database, Log: log, Metrics: prometheus.NewRegistry(),
		KeyEncryptionKey: benchkit.KEK})
	if err != nil {
		return err
	}
	defer inst.Close()
	rebuild := time.Since(started)
	fmt.Printf("index: rebuilt in %s, %.1f MB of heap\n", rebuild.Round(time.Millisecond), float64(heap()-before)/(1<<20))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = inst.GRPC.Serve(lis) }()

	// The microservice's credential: a key allowed to check roles in the tenant.
	cred, err := tenantKey(ctx, lis.Addr().String(), root, tenantID)
	if err != nil {
		return err
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cred)

	checkRole := func(c *grpc.ClientConn, rng *rand.Rand) error {
		_, err := identityv1.NewAuthzServiceClient(c).CheckRole(authed, &identityv1.CheckRoleRequest{
			TenantId: tenantID,
			User:     &identityv1.UserRef{Ref: &identityv1.UserRef_UserId{UserId: userIDs[rng.IntN(len(userIDs))]}},
			Role:     roleNames[rng.IntN(len(roleNames))],
		})
		return err
	}
	healthCheck := func(c *grpc.ClientConn, _ *rand.Rand) error {
		_, err := healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	batch := func(c *grpc.ClientConn, rng *rand.Rand) error {
		checks := make([]*identityv1.Check, 100)
		for i := range checks {
			checks[i] = &identityv1.Check{
				User: &identityv1.UserRef{Ref: &identityv1.UserRef_UserId{UserId: userIDs[rng.IntN(len(userIDs))]}},
				What: &identityv1.Check_Role{Role: roleNames[rng.IntN(len(roleNames))]},
			}
		}
		_, err := identityv1.NewAuthzServiceClient(c).BatchCheck(authed, &identityv1.BatchCheckRequest{TenantId: tenantID, Checks: checks})
		return err
	}
	columns := func(c *grpc.ClientConn, rng *rand.Rand) error {
		cols := &identityv1.CheckColumns{UserIds: make([]string, 100), Roles: make([]string, 100)}
		for i := range 100 {
			cols.UserIds[i], cols.Roles[i] = userIDs[rng.IntN(len(userIDs))], roleNames[rng.IntN(len(roleNames))]
		}
		_, err := identityv1.NewAuthzServiceClient(c).BatchCheck(authed, &identityv1.BatchCheckRequest{TenantId: tenantID, Columns: cols})
		return err
	}

	addr := lis.Addr().String()
	if _, err := load(addr, 4, time.Second, checkRole); err != nil { // warm up
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var ratios []string
	for _, s := range strings.Split(levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("concurrency %q: %w", s, err)
		}
		h, err := load(addr, c, duration, healthCheck)
		if err != nil {
			return err
		}
		r, err := load(addr, c, duration, checkRole)
		if err != nil {
			return err
		}
		fmt.Printf("c=%-3d health    %s\n", c, h)
		fmt.Printf("c=%-3d CheckRole %s  (throughput %.2fx, p99 %.2fx of health)\n", c, r, r.rps/h.rps, float64(r.p99)/float64(h.p99))
		ratios = append(ratios, fmt.Sprintf("c%d=%.2f", c, r.rps/h.rps))
	}
	one, err := load(addr, 1, duration, checkRole)
	if err != nil {
		return err
	}
	b, err := load(addr, 1, duration, batch)
	if err != nil {
		return err
	}
	bc, err := load(addr, 1, duration, columns)
	if err != nil {
		return err
	}
	fmt.Printf("c=1   BatchCheck(100) %s  (p50 %.2fx of one CheckRole)\n", b, float64(b.p50)/float64(one.p50))
	fmt.Printf("c=1   BatchCheck(100 as columns) %s  (p50 %.2fx of one CheckRole)\n", bc, float64(bc.p50)/float64(one.p50))
	fmt.Printf("ratio %s\n", strings.Join(ratios, " "))
	return nil
}

// profile is where -cpuprofile writes, if set.
var profile string

type result struct {
	rps      float64
	p50, p99 time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("%9.0f req/s  p50 %8s  p99 %8s", r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
}

// load runs call from c workers, each on its own connection, for d.
func load(addr string, c int, d time.Duration, call func(*grpc.ClientConn, *rand.Rand) error) (result, error) {
	conns := make([]*grpc.ClientConn, c)
	for i := range conns {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return result{}, err
		}
		defer conn.Close()
		conns[i] = conn
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		firstErr error
	)
	deadline := time.Now().Add(d)
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var lat []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := call(conns[i], rng); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	slices.Sort(all)
	if len(all) == 0 {
		return result{}, fmt.Errorf("no calls completed")
	}
	return result{
		rps: float64(len(all)) / d.Seconds(),
		p50: all[len(all)/2],
		p99: all[len(all)*99/100],
	}, nil
}

// seed writes the tenant straight through ent in bulk: a benchmark fixture of
// 400,000 rows would take minutes one API call at a time. The server reads it
// as it reads any database at start.
func seed(ctx context.Context, db *ent.Client, projectID string, nUsers, nGroups, nRoles, perUser int) (string, []string, []string, error) {
	now := time.Now().UTC()
	tenantID := uuid.Must(uuid.NewV7()).String()
	if err := db.Tenant.Create().SetID(tenantID).SetProjectID(projectID).SetDisplayName("bench").
		SetCreateTime(now).SetUpdateTime(now).SetVersion(0).Exec(ctx); err != nil {
		return "", nil, nil, err
	}
	var roleNames []string
	roleIDs := map[string]string{}
	var roleCreates []*ent.RoleCreate
	for i := range nRoles {
		name := fmt.Sprintf("role-%03d", i)
		roleNames = append(roleNames, name)
		roleIDs[name] = uuid.Must(uuid.NewV7()).String()
		roleCreates = append(roleCreates, db.Role.Create().SetID(roleIDs[name]).SetTenantID(tenantID).
			SetName(name).SetNameKey(name).SetPermissions([]string{name + ":read"}).SetCreateTime(now).SetUpdateTime(now).SetVersion(0))
	}
	if err := db.Role.CreateBulk(roleCreates...).Exec(ctx); err != nil {
		return "", nil, nil, err
	}
	// Groups are named like the roles they grant, cycling over the roles.
	groupIDs := make([]string, nGroups)
	var groupCreates []*ent.GroupCreate
	for i := range nGroups {
		groupIDs[i] = uuid.Must(uuid.NewV7()).String()
		name := roleNames[i%nRoles]
		if i >= nRoles {
			name = fmt.Sprintf("group-%04d", i)
		}
		groupCreates = append(groupCreates, db.Group.Create().SetID(groupIDs[i]).SetTenantID(tenantID).
			SetDisplayName(name).SetDisplayNameKey(name).SetCreateTime(now).SetUpdateTime(now).SetVersion(0))
	}
	for part := range slices.Chunk(groupCreates, 500) {
		if err := db.Group.CreateBulk(part...).Exec(ctx); err != nil {
			return "", nil, nil, err
		}
	}
	// Groups beyond the first nRoles grant a role through a mapping.
	var maps []*ent.GroupRoleCreate
	for i := nRoles; i < nGroups; i++ {
		maps = append(maps, db.GroupRole.Create().SetTenantID(tenantID).SetGroupID(groupIDs[i]).
			SetRoleID(roleIDs[roleNames[i%nRoles]]).SetCreateTime(now))
	}
	for part := range slices.Chunk(maps, 500) {
		if err := db.GroupRole.CreateBulk(part...).Exec(ctx); err != nil {
			return "", nil, nil, err
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	userIDs := make([]string, nUsers)
	for start := 0; start < nUsers; start += 500 {
		var us []*ent.UserCreate
		var ms []*ent.GroupMembershipCreate
		for i := start; i < min(start+500, nUsers); i++ {
			userIDs[i] = uuid.Must(uuid.NewV7()).String()
			name := fmt.Sprintf("user%06d@example.com", i)
			us = append(us, db.User.Create().SetID(userIDs[i]).SetTenantID(tenantID).SetUserName(name).SetUserNameKey(name).
				SetActive(true).SetPhoneNumbers([]schema.PhoneNumber{}).SetCustomAttributes(map[string]string{}).
				SetCreateTime(now).SetUpdateTime(now).SetVersion(0))
			for _, g := range rng.Perm(nGroups)[:perUser] {
				ms = append(ms, db.GroupMembership.Create().SetTenantID(tenantID).SetGroupID(groupIDs[g]).SetUserID(userIDs[i]).SetCreateTime(now))
			}
		}
		if err := db.User.CreateBulk(us...).Exec(ctx); err != nil {
			return "", nil, nil, err
		}
		if err := db.GroupMembership.CreateBulk(ms...).Exec(ctx); err != nil {
			return "", nil, nil, err
		}
	}
	return tenantID, userIDs, roleNames, nil
}

// tenantKey creates, through the API, the key a checking service would hold.
func tenantKey(ctx context.Context, addr, root, tenantID string) (string, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := identityv1.NewAccessKeyServiceClient(conn).CreateAccessKey(
		metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+root),
		&identityv1.CreateAccessKeyRequest{Name: "checker", RoleBindings: []*identityv1.RoleBinding{{Role: authz.RoleTenantAdmin, TenantId: tenantID}}})
	if err != nil {
		return "", err
	}
	return resp.GetCredential(), nil
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
