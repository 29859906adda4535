package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadme runs the README's walkthroughs as written, in order, as one
// shell session against a real `identityd serve` on an empty store, and
// checks every output the README states, so the README cannot drift from
// the service.
//
// The rules, which the README follows: every ```sh block is run, except
// one that starts the server or the tests (its first line is a make
// command); a comment line "# → text" states what the commands since the
// previous such line printed: text must appear in that output, "…" standing
// for anything and whitespace ignored (pretty and compact JSON compare
// alike). The server listens where the README says (127.0.0.1:8080 and
// :9090 are replaced by free ports), and the credential the README has the
// reader paste is the one this server printed. Any failing command fails
// the test (set -euo pipefail).
func TestReadme(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed to run the README (.ci/run installs it)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, expects := readmeScript(string(readme))
	if len(expects) < 10 {
		t.Fatalf("the README states only %d outputs", len(expects))
	}

	dir, bin := buildBinary(t)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	serve := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"), "--grpc-addr", grpcAddr, "--http-addr", httpAddr)
	var credential, logs bytes.Buffer
	serve.Stdout, serve.Stderr = &credential, &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = serve.Process.Kill(); _ = serve.Wait() }()
	waitFor(t, "http://"+httpAddr+"/healthz")

	here := strings.NewReplacer(
		"127.0.0.1:8080", httpAddr,
		"127.0.0.1:9090", grpcAddr,
		"'<ProjectID>:<AccessKey>'", "'"+strings.TrimSpace(credential.String())+"'",
	)
	script = here.Replace(script)
	for i := range expects {
		expects[i] = here.Replace(expects[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script)
	sh.Dir = "../.." // the README's commands run at the repository's root
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	if err := sh.Run(); err != nil {
		t.Fatalf("the README's commands failed: %v\nlast output:\n%s\nstderr:\n%s\nserver log:\n%s",
			err, tail(stdout.String(), 2000), tail(stderr.String(), 2000), tail(logs.String(), 2000))
	}

	outputs := strings.Split(stdout.String(), marker)
	for i, want := range expects {
		if i >= len(outputs)-1 {
			t.Fatalf("the commands printed no output for %q", want)
		}
		got := outputs[i]
		if j := strings.Index(got, "@@"); j >= 0 && i > 0 {
			got = got[j+2:] // after the marker's number
		}
		if !stated(want).MatchString(squeeze(got)) {
			t.Errorf("the README states\n  %s\nbut the commands printed\n  %s", want, tail(got, 1500))
		}
	}
}

const marker = "@@expect "

// readmeScript returns the README's runnable shell blocks as one script, each
// stated output replaced by a marker, and the stated outputs in order.
func readmeScript(readme string) (string, []string) {
	var b strings.Builder
	b.WriteString("set -euo pipefail\n")
	var expects []string
	in, first, skip := false, false, false
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case !in && line == "```sh":
			in, first = true, true
			continue
		case in && line == "```":
			in = false
			continue
		case !in:
			continue
		}
		if first {
			skip = strings.HasPrefix(line, "make ") // starts the server or the tests
			first = false
		}
		if skip {
			continue
		}
		if want, ok := strings.CutPrefix(strings.TrimSpace(line), "# → "); ok {
			// a newline first: the output before may not end with one
			fmt.Fprintf(&b, "echo; echo '%s%d@@'\n", marker, len(expects))
			expects = append(expects, want)
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String(), expects
}

// stated compiles a stated output: "…" is anything, whitespace is ignored.
func stated(want string) *regexp.Regexp {
	parts := strings.Split(squeeze(want), "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("(?s)" + strings.Join(parts, ".*"))
}

var space = regexp.MustCompile(`\s+`)

func squeeze(s string) string { return space.ReplaceAllString(s, "") }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
