package scim_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkImport provisions 1,000 users per iteration through the real HTTP
// server on SQLite: one Bulk request of 1,000 POSTs against 1,000 single
// POSTs sent one after another (Okta's way) and 8 at a time. It reports
// users/s; compare the sub-benchmarks of one run.
func BenchmarkImport(b *testing.B) {
	const users = 1000
	e := newEnv(b)
	send := func(b *testing.B, method, path, body string, want int) {
		req, _ := http.NewRequest(method, e.srv.HTTP.URL+"/scim/v2"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	round := 0
	name := func(i int) string { return fmt.Sprintf("u%d-%d@x.com", round, i) }
	report := func(b *testing.B, start time.Time) {
		b.ReportMetric(float64(users*b.N)/time.Since(start).Seconds(), "users/s")
	}
	b.Run("bulk", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			round++
			ops := make([]string, users)
			for i := range ops {
				ops[i] = bulkUser(fmt.Sprint(i), name(i))
			}
			send(b, "POST", "/Bulk", bulkBody(0, ops...), 200)
		}
		report(b, start)
	})
	for _, c := range []int{1, 8} {
		b.Run(fmt.Sprintf("posts-c%d", c), func(b *testing.B) {
			start := time.Now()
			for range b.N {
				round++
				var wg sync.WaitGroup
				for w := range c {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < users; i += c {
							send(b, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q}`, name(i)), 201)
						}
					}()
				}
				wg.Wait()
			}
			report(b, start)
		})
	}
}
