package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	identityv1 "github.com/acme/identity/gen/identity/v1"
)

// TestBinary builds identityd and runs it as an operator would: init prints
// exactly the credential on stdout and refuses a second run; serve answers
// /healthz and the REST API, then stops cleanly on SIGTERM; serve on an
// empty store creates the project itself (TestServeInitializes).
func TestBinary(t *testing.T) {
	dir, bin := buildBinary(t)
	data := filepath.Join(dir, "data")

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "init", "--data", data)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("init: %v\n%s", err, stderr.String())
	}
	line := regexp.MustCompile(`^[0-9a-f-]{36}:[0-9a-f]{32}\.[A-Za-z0-9_-]{43}\n$`)
	if !line.MatchString(stdout.String()) {
		t.Fatalf("init printed %q", stdout.String())
	}
	cred := strings.TrimSpace(stdout.String())
	if strings.Contains(stderr.String(), cred) {
		t.Fatal("init logged the credential")
	}
	again := exec.Command(bin, "init", "--data", data)
	if out, err := again.Output(); err == nil || len(out) != 0 {
		t.Fatalf("second init: err %v, stdout %q", err, out)
	}

	// recover prints a second root credential, used below like the first
	stdout.Reset()
	rec := exec.Command(bin, "recover", "--data", data)
	rec.Stdout, rec.Stderr = &stdout, &stderr
	if err := rec.Run(); err != nil || !line.MatchString(stdout.String()) {
		t.Fatalf("recover: %v, printed %q\n%s", err, stdout.String(), stderr.String())
	}
	recovered := strings.TrimSpace(stdout.String())
	if recovered == cred || strings.Contains(stderr.String(), recovered) {
		t.Fatal("recover printed the old credential, or logged the new one")
	}

	for _, c := range []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"help"}, 0, "identityd recover"},
		{[]string{"--help"}, 0, "identityd serve"},
		{[]string{"help", "serve"}, 0, "IDENTITY_GRPC_ADDR"},
		{[]string{"serve", "-h"}, 0, "IDENTITY_RATE_BURST_PER_TENANT"},
		{[]string{"version"}, 0, "identityd "},
		{[]string{"nope"}, 2, `unknown command "nope"`},
	} {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != c.wantCode || !strings.Contains(string(out), c.want) {
			t.Errorf("identityd %v: exit %d, output %q; want exit %d and %q", c.args, code, out, c.wantCode, c.want)
		}
	}

	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	serve := exec.Command(bin, "serve", "--data", data, "--grpc-addr", grpcAddr)
	serve.Env = append(os.Environ(), "IDENTITY_HTTP_ADDR="+httpAddr)
	var logs bytes.Buffer
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	base := "http://" + httpAddr
	waitFor(t, base+"/healthz")

	var tenantID, requestID string
	for i, c := range []string{cred, recovered} {
		req, _ := http.NewRequest("POST", base+"/v1/tenants", strings.NewReader(fmt.Sprintf(`{"displayName":"Acme %d"}`, i)))
		req.Header.Set("Authorization", "Bearer "+c)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Tenant struct{ ID string } }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("create tenant with credential %d: %d", i, resp.StatusCode)
		}
		tenantID, requestID = out.Tenant.ID, resp.Header.Get("X-Request-Id")
	}
	checkAuditTrail(t, base, cred, requestID)
	checkDirectCaller(t, grpcAddr, cred, tenantID)
	// a REST watch left open across the shutdown
	req, _ := http.NewRequest("GET", base+"/v1/tenants/"+tenantID+"/authz:watchRoleChanges", nil)
	req.Header.Set("Authorization", "Bearer "+cred)
	watch, err := http.DefaultClient.Do(req)
	if err != nil || watch.StatusCode != 200 {
		t.Fatalf("REST watch: %v", err)
	}
	watched := make(chan string, 1)
	go func() { b, _ := io.ReadAll(watch.Body); watched <- string(b) }()
	if conn, err := net.Dial("tcp", grpcAddr); err != nil {
		t.Fatalf("gRPC port: %v", err)
	} else {
		conn.Close()
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if body := <-watched; !strings.Contains(body, "reconnect and watch from_revision=") {
		t.Fatalf("the REST watch ended without saying where to resume: %q", body)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if strings.Contains(logs.String(), cred) {
		t.Fatal("serve logged the credential")
	}
	// The log is one JSON object per line, gRPC's own lines included.
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("a log line is not JSON: %q", line)
		}
	}
}

// buildBinary builds identityd into a new temporary directory, which it
// returns with the binary's path; under -short the test is skipped.
func buildBinary(t *testing.T) (dir, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "identityd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir, bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	for range 200 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(fmt.Sprintf("%s never answered 200", url))
}

// TestServeInitializes: serve on an empty data directory creates the project
// and prints its credential once on stdout, which then works; a second
// start prints nothing.
func TestServeInitializes(t *testing.T) {
	dir, bin := buildBinary(t)
	data := filepath.Join(dir, "empty")
	for start := range 2 {
		httpAddr := freeAddr(t)
		serve := exec.Command(bin, "serve", "--data", data, "--grpc-addr", freeAddr(t), "--http-addr", httpAddr)
		var stdout bytes.Buffer
		serve.Stdout = &stdout
		if err := serve.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "http://"+httpAddr+"/healthz")
		cred := strings.TrimSpace(stdout.String())
		switch {
		case start == 0 && !regexp.MustCompile(`^[0-9a-f-]{36}:[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$`).MatchString(cred):
			t.Fatalf("first start printed %q", cred)
		case start == 1 && cred != "":
			t.Fatalf("second start printed %q", cred)
		}
		if start == 0 {
			req, _ := http.NewRequest("GET", "http://"+httpAddr+"/v1/tenants", nil)
			req.Header.Set("Authorization", "Bearer "+cred)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("the printed credential: %v %v", resp, err)
			}
			resp.Body.Close()
		}
		_ = serve.Process.Signal(syscall.SIGTERM)
		_ = serve.Wait()
	}
}

// checkAuditTrail reads the trail over REST, as a page and as the JSON
// lines a log pipeline reads: init and recover are the operator's, the
// tenants' creations came through REST under the request id they answered.
func checkAuditTrail(t *testing.T, base, cred, requestID string) {
	t.Helper()
	get := func(path string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}
	type event struct {
		Method, Source, RequestID string
		Actor                     struct{ Kind string }
	}
	var page struct{ Events []event }
	if err := json.Unmarshal(get("/v1/auditEvents"), &page); err != nil {
		t.Fatal(err)
	}
	var lines []event
	for _, line := range strings.Split(strings.TrimSpace(string(get("/v1/auditEvents:stream"))), "\n") {
		var l struct{ Result struct{ Event event } }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("stream line %q: %v", line, err)
		}
		lines = append(lines, l.Result.Event)
	}
	got := func(events []event) string {
		var out []string
		for _, e := range events {
			out = append(out, e.Method+" "+e.Source+" "+e.Actor.Kind)
		}
		return strings.Join(out, "; ")
	}
	want := "identityd init AUDIT_SOURCE_CLI KIND_OPERATOR; identityd recover AUDIT_SOURCE_CLI KIND_OPERATOR; " +
		"/identity.v1.TenantService/CreateTenant AUDIT_SOURCE_REST KIND_ACCESS_KEY; /identity.v1.TenantService/CreateTenant AUDIT_SOURCE_REST KIND_ACCESS_KEY"
	if got(lines) != want {
		t.Errorf("streamed trail:\n%s\nwant\n%s", got(lines), want)
	}
	if len(page.Events) != 4 || page.Events[0].RequestID != requestID || got(page.Events[1:2]) != got(lines[2:3]) {
		t.Errorf("trail, newest first: %+v (request id %s)", page.Events, requestID)
	}
}

// checkDirectCaller calls over the gRPC listener as a service would: it
// cannot claim another door (x-identity-source) nor record SCIM requests,
// which only the in-process SCIM gateway may; its own request id is kept.
func checkDirectCaller(t *testing.T, grpcAddr, cred, tenantID string) {
	t.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+cred,
		"x-identity-source", "scim", "x-request-id", "svc-call-7")
	if _, err := identityv1.NewTenantServiceClient(conn).CreateTenant(ctx, &identityv1.CreateTenantRequest{DisplayName: "direct"}); err != nil {
		t.Fatal(err)
	}
	trail, err := identityv1.NewAuditServiceClient(conn).ListAuditEvents(ctx, &identityv1.ListAuditEventsRequest{
		Filter: &identityv1.AuditFilter{RequestId: "svc-call-7"}})
	if err != nil || len(trail.GetEvents()) != 1 || trail.GetEvents()[0].GetSource() != identityv1.AuditSource_AUDIT_SOURCE_GRPC {
		t.Fatalf("a direct call's event: %v, %v", trail, err)
	}
	_, err = identityv1.NewAuditServiceClient(conn).RecordScimRequest(ctx, &identityv1.RecordScimRequestRequest{TenantId: tenantID,
		Scim: &identityv1.ScimRequestSummary{Method: "GET", Path: "/Users", Status: 200}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("RecordScimRequest over the listener: %v", err)
	}
}
