// Command writebench measures the write path the way Okta provisions: POST
// /scim/v2/Users at concurrency 8 through the real HTTP server with a tenant's
// SCIM token, on SQLite and, when IDENTITY_TEST_POSTGRES is set, on a fresh
// PostgreSQL database. On PostgreSQL it also measures, in the same run and on
// the same database, a bare pgx transaction at concurrency 8 inserting the
// rows one user create inserts (the user, its email, one change-log entry)
// and nothing else; the ratio of the two is what identityd's HTTP, JSON,
// gRPC, authentication, validation and change log cost on top of the
// database's own work. It also measures one tenant's POST latency while
// another writes at full speed (tenants must not queue behind each other).
//
// It ends with one line:
//
//	writes sqlite=<users/s> postgres=<users/s> pg_baseline=<tx/s> ratio=<postgres/pg_baseline>
//
// Rate limits are off: the benchmark measures capacity, not policy.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/metadata"

	"github.com/acme/identity/cmd/internal/benchkit"
	"github.com/acme/identity/server/authn"
	"github.com/acme/identity/server/instance"
	"github.com/acme/identity/server/store"
)

const concurrency = 8

func main() {
	n := flag.Int("n", 4000, "users created per measurement")
	pgBase := flag.String("postgres", os.Getenv("IDENTITY_TEST_POSTGRES"), "PostgreSQL URL whose server gets a fresh database (default IDENTITY_TEST_POSTGRES); empty: SQLite only")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	withSQLite := flag.Bool("sqlite", true, "measure SQLite (false: PostgreSQL only, for profiling)")
	two := flag.Bool("instances", false, "also measure two instances on one PostgreSQL against one (in this process)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "writebench:", err)
			os.Exit(1)
		}
	}
	err := run(*n, *pgBase, *withSQLite, *two)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "writebench:", err)
		os.Exit(1)
	}
}

func run(n int, pgBase string, withSQLite, twoInstances bool) error {
	ctx := context.Background()
	fmt.Printf("machine: %d CPUs, %s/%s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	dir, err := os.MkdirTemp("", "writebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	line := "writes"
	if withSQLite {
		rate, err := measure(ctx, "sqlite", store.SQLiteURL(dir), n)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		line += fmt.Sprintf(" sqlite=%.0f", rate)
	}
	if pgBase != "" {
		dbURL, drop, err := freshPostgres(ctx, pgBase)
		if err != nil {
			return err
		}
		defer drop()
		pgRate, err := measure(ctx, "postgres", dbURL, n)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		base, used, err := baseline(ctx, dbURL, n)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		fmt.Printf("postgres baseline: bare pgx transactions (user, email, change entry) at concurrency %d: %.0f tx/s; per transaction %s\n",
			concurrency, base, used)
		line += fmt.Sprintf(" postgres=%.0f pg_baseline=%.0f ratio=%.2f", pgRate, base, pgRate/base)
		if twoInstances {
			if err := instances(ctx, pgBase, n); err != nil {
				return fmt.Errorf("two instances: %w", err)
			}
		}
	}
	fmt.Println(line)
	return nil
}

// instances measures what a second instance on the same PostgreSQL adds: a
// fresh database, one tenant, 16 clients against one instance, then 8
// against each of two (the second runs in this process, on the same cores).
func instances(ctx context.Context, pgBase string, n int) error {
	dbURL, drop, err := freshPostgres(ctx, pgBase)
	if err != nil {
		return err
	}
	defer drop()
	a, err := serve(ctx, dbURL)
	if err != nil {
		return err
	}
	defer a.stop()
	root, err := authn.InitProject(ctx, a.inst.DB, "bench")
	if err != nil {
		return err
	}
	pa, err := a.tenant(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+root), "pair")
	if err != nil {
		return err
	}
	b, err := serve(ctx, dbURL)
	if err != nil {
		return err
	}
	defer b.stop()
	pb := &poster{url: b.base + "/scim/v2/Users", token: pa.token, client: client, prefix: "pairb"}
	for _, p := range []*poster{pa, pb} { // warm up
		if _, err := p.run(concurrency, 200); err != nil {
			return err
		}
	}
	one, err := pa.run(2*concurrency, n)
	if err != nil {
		return err
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { _, errA = pa.run(concurrency, n/2) })
	wg.Go(func() { _, errB = pb.run(concurrency, n/2) })
	wg.Wait()
	if err := errors.Join(errA, errB); err != nil {
		return err
	}
	two := float64(n/2*2) / time.Since(t0).Seconds()
	fmt.Printf("postgres: one instance, %d clients: %.0f users/s; two instances, %d clients each: %.0f users/s: %.2fx\n",
		2*concurrency, one, concurrency, two, two/one)
	return nil
}

// server is an instance serving HTTP on loopback.
type server struct {
	inst *instance.Instance
	base string
	stop func()
}

// serve starts an instance on dbURL with its HTTP side on a loopback port.
func serve(ctx context.Context, dbURL string) (*server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	inst, err := instance.Start(ctx, instance.Config{DatabaseURL: dbURL, PublicURL: "http://" + lis.Addr().String(), Log: log,
		KeyEncryptionKey: benchkit.KEK})
	if err != nil {
		lis.Close()
		return nil, err
	}
	hs := &http.Server{Handler: inst.HTTP}
	go func() { _ = hs.Serve(lis) }()
	return &server{inst: inst, base: "http://" + lis.Addr().String(), stop: func() { hs.Close(); inst.Close() }}, nil
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// tenant creates a tenant that provisions over SCIM through s and returns a
// poster of its users to s.
func (s *server) tenant(admin context.Context, name string) (*poster, error) {
	token, err := benchkit.ScimTenant(admin, s.inst.Conn, name)
	if err != nil {
		return nil, err
	}
	return &poster{url: s.base + "/scim/v2/Users", token: token, client: client, prefix: name}, nil
}

// measure starts an instance on dbURL and returns the rate of POST /Users at
// concurrency 8 into one tenant, after printing the fair-sharing figures.
func measure(ctx context.Context, name, dbURL string, n int) (float64, error) {
	srv, err := serve(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer srv.stop()
	root, err := authn.InitProject(ctx, srv.inst.DB, "bench")
	if err != nil {
		return 0, err
	}
	admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+root)
	busy, err := srv.tenant(admin, "busy")
	if err != nil {
		return 0, err
	}
	quiet, err := srv.tenant(admin, "quiet")
	if err != nil {
		return 0, err
	}
	if _, err := busy.run(concurrency, 400); err != nil { // warm up
		return 0, err
	}
	start := usageNow()
	rate, err := busy.run(concurrency, n)
	if err != nil {
		return 0, err
	}
	used := usageNow()
	if name != "postgres" {
		used.postgres = start.postgres // PostgreSQL's own work meanwhile is not this run's
	}
	fmt.Printf("%s: POST /scim/v2/Users at concurrency %d: %d users at %.0f users/s; per user %s\n",
		name, concurrency, n, rate, used.per(start, n))

	idle, err := quiet.latencies(300, nil)
	if err != nil {
		return 0, err
	}
	stop := make(chan struct{})
	var loadErr error
	var wg sync.WaitGroup
	wg.Go(func() { _, loadErr = busy.runUntil(concurrency, stop) })
	loaded, err := quiet.latencies(300, stop)
	wg.Wait()
	if err == nil {
		err = loadErr
	}
	if err != nil {
		return 0, err
	}
	fmt.Printf("%s: another tenant's POST p50 idle %s, while one tenant writes at concurrency %d %s: %.2fx\n", name,
		idle.Round(time.Microsecond), concurrency, loaded.Round(time.Microsecond), float64(loaded)/float64(idle))

	// What the fair share costs: both tenants provisioning at full speed
	// together, against the one tenant alone above.
	t0 := time.Now()
	var busyErr error
	wg.Go(func() { _, busyErr = busy.run(concurrency, n/2) })
	_, err = quiet.run(concurrency, n/2)
	wg.Wait()
	if err == nil {
		err = busyErr
	}
	if err != nil {
		return 0, err
	}
	both := float64(n/2*2) / time.Since(t0).Seconds()
	fmt.Printf("%s: two tenants writing at concurrency %d each: %.0f users/s together, %.2fx of one tenant alone\n",
		name, concurrency, both, both/rate)
	return rate, nil
}

// usage is CPU time used so far by this process (the server and the load
// generator, or the baseline's client) and by each of the PostgreSQL
// server's processes on this machine. Per operation it is a figure that a
// shared machine's changing speed moves less than operations per second.
type usage struct {
	self     time.Duration
	postgres map[string]time.Duration // by pid
}

func usageNow() usage {
	u := usage{postgres: postgresCPU()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return u
}

// per formats the usage since start per operation. A PostgreSQL process
// counts with what it used since start, or since it began; one that ended
// meanwhile (a closed connection's) is not counted, which is why the
// benchmark's connections stay open across each measurement.
func (u usage) per(start usage, n int) string {
	var pg time.Duration
	for pid, used := range u.postgres {
		pg += used - start.postgres[pid]
	}
	out := fmt.Sprintf("%s of this process's CPU", ((u.self - start.self) / time.Duration(n)).Round(time.Microsecond))
	if pg > 0 {
		out += fmt.Sprintf(" and %s of PostgreSQL's", (pg / time.Duration(n)).Round(time.Microsecond))
	}
	return out
}

// postgresCPU returns the CPU time of each process named postgres, from
// /proc/<pid>/stat (utime and stime, in the kernel's 100 Hz clock ticks):
// none where PostgreSQL runs elsewhere.
func postgresCPU() map[string]time.Duration {
	dirs, _ := os.ReadDir("/proc")
	out := map[string]time.Duration{}
	for _, d := range dirs {
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
		if open < 0 || end < open || string(raw[open+1:end]) != "postgres" {
			continue
		}
		f := strings.Fields(string(raw[end+1:])) // from field 3, the state
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[d.Name()] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

// poster creates users in one tenant through SCIM.
type poster struct {
	url, token, prefix string
	client             *http.Client
	seq                atomic.Int64
}

func (p *poster) post() error {
	i := p.seq.Add(1)
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s%07d@example.com","name":{"givenName":"N","familyName":"%d"},"emails":[{"primary":true,"value":"%s%07d@example.com","type":"work"}],"active":true}`,
		p.prefix, i, i, p.prefix, i)
	req, err := http.NewRequest("POST", p.url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /Users: status %d: %.300s", resp.StatusCode, raw)
	}
	return nil
}

// run creates n users with c clients and returns users per second.
func (p *poster) run(c, n int) (float64, error) {
	var left atomic.Int64
	left.Store(int64(n))
	return p.clients(c, func() bool { return left.Add(-1) >= 0 })
}

// runUntil creates users with c clients until stop is closed.
func (p *poster) runUntil(c int, stop <-chan struct{}) (float64, error) {
	return p.clients(c, func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	})
}

func (p *poster) clients(c int, more func() bool) (float64, error) {
	var done atomic.Int64
	var firstErr atomic.Value
	t0 := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for more() {
				if err := p.post(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(t0).Seconds(), nil
}

// latencies times n sequential POSTs and returns their median; a non-nil
// stop is closed when they are done.
func (p *poster) latencies(n int, stop chan struct{}) (time.Duration, error) {
	if stop != nil {
		defer close(stop)
		time.Sleep(200 * time.Millisecond) // let the load reach full speed
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := p.post(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// freshPostgres creates an empty database on base's server and returns its
// URL and a function that drops it.
func freshPostgres(ctx context.Context, base string) (string, func(), error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	name := "identity_writebench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
}

// baseline runs n bare transactions at concurrency 8, each inserting what one
// SCIM user create inserts (a user row, its email row and one change-log
// entry, in identityd's own tables and with their indexes), and returns
// transactions per second and the CPU they used. The rows belong to the
// database's first tenant.
func baseline(ctx context.Context, dbURL string, n int) (float64, string, error) {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return 0, "", err
	}
	defer pool.Close()
	var projectID, tenantID string
	if err := pool.QueryRow(ctx, `SELECT project_id, id FROM tenants ORDER BY create_time LIMIT 1`).Scan(&projectID, &tenantID); err != nil {
		return 0, "", fmt.Errorf("find a tenant: %w", err)
	}
	insert := func(i int64) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			now := time.Now().UTC()
			userID, name := uuid.NewString(), fmt.Sprintf("base%07d@example.com", i)
			if _, err := tx.Exec(ctx, `INSERT INTO users (id, create_time, update_time, version, tenant_id, user_name, user_name_key,
				external_id, given_name, family_name, middle_name, honorific_prefix, honorific_suffix, formatted_name, display_name, active)
				VALUES ($1, $2, $2, 1, $3, $4, $4, '', 'N', $5, '', '', '', '', '', true)`,
				userID, now, tenantID, name, fmt.Sprint(i)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO emails (tenant_id, user_id, value, value_key, type, "primary", position)
				VALUES ($1, $2, $3, $3, 'work', true, 0)`, tenantID, userID, name); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO changes (project_id, revision, tenant_id, kind, operation, resource_id, user_id, role_id, detail, create_time)
				VALUES ($1, $2, $3, 'user', 'create', $4, '', '', '', $5)`, projectID, 1_000_000+i, tenantID, userID, now)
			return err
		})
	}
	var seq atomic.Int64
	var firstErr atomic.Value
	start, t0 := usageNow(), time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				i := seq.Add(1)
				if i > int64(n) {
					return
				}
				if err := insert(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	rate, used := float64(n)/time.Since(t0).Seconds(), usageNow().per(start, n)
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, "", err
	}
	return rate, used, nil
}
