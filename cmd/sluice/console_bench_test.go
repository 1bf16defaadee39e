package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/testenv/benchq"
)

// seedRecords writes n finished runs into the records database of a data
// dir, before its server starts.
func seedRecords(b *testing.B, dataDir string, n int) {
	b.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		b.Fatal(err)
	}
	s, err := records.Open(context.Background(), filepath.Join(dataDir, "records.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now().Add(-time.Duration(n) * time.Minute)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				at := t0.Add(time.Duration(i) * time.Minute)
				r := contract.RunRecord{Kind: contract.RecordPipeline, WorkflowID: fmt.Sprintf("pipeline/acme/app%d:main", i%20),
					RunID: fmt.Sprintf("0193abcd-0000-7000-8000-%012d", i), Pipeline: fmt.Sprint("app", i%20), Repository: fmt.Sprintf("acme/app%d", i%20),
					Branch: "main", Commit: fmt.Sprintf("%040d", i), Author: "carol", State: []string{"succeeded", "failed", "succeeded", "rejected"}[i%4],
					Started: at, Finished: at.Add(5 * time.Minute), Seq: 2}
				for k, ph := range []string{"build", "test", "bake", "deploy", "approval"} {
					r.Events = append(r.Events, contract.RecordEvent{Key: "phase:" + ph, Kind: contract.EventPhase, Name: ph, Status: "succeeded",
						At: at.Add(time.Duration(k) * time.Minute), Finished: at.Add(time.Duration(k+1) * time.Minute)})
				}
				r.Events = append(r.Events, contract.RecordEvent{Key: "approval:0", Kind: contract.EventApproval, Name: "approval", Actor: "alice", Via: "slack", At: at.Add(5 * time.Minute)})
				if err := s.WriteRun(context.Background(), r); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// consoleClient is a browser's session: signed in with the dev token.
func consoleClient(b testing.TB, e *env) (*http.Client, string) {
	b.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	base := "http://127.0.0.1:" + strconv.Itoa(e.http)
	token, err := os.ReadFile(filepath.Join(e.dataDir, "api-token"))
	if err != nil {
		b.Fatal(err)
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(base+"/signin", url.Values{"token": {strings.TrimSpace(string(token))}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("sign in: %d", resp.StatusCode)
	}
	c.CheckRedirect = nil
	// the session cookie is Secure; a browser keeps it on a loopback
	// address, Go's jar only on https: hand it over
	u, _ := url.Parse(base)
	for _, ck := range resp.Cookies() {
		ck.Secure = false
		jar.SetCookies(u, []*http.Cookie{ck})
	}
	return c, base
}

// getPage GETs a console page, failing unless it answers 200 with every
// one of wants, and returns how long the answer took.
func getPage(b testing.TB, c *http.Client, u string, wants ...string) time.Duration {
	b.Helper()
	start := time.Now()
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d\n%.2000s", u, resp.StatusCode, body)
	}
	for _, want := range wants {
		if !strings.Contains(string(body), want) {
			b.Fatalf("GET %s lacks %q:\n%.2000s", u, want, body)
		}
	}
	return took
}

// BenchmarkConsolePages: the web console's runs page (the newest 50, and
// filtered by repository and state) and an old run's page (read from the
// records: Temporal no longer knows it) with 10,000 runs in the records,
// against the same pages with 100 (the baseline), on `sluice dev`. Times
// are the server's answer on loopback, p50 and p95 in ms.
func BenchmarkConsolePages(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("runs=%d", n), func(b *testing.B) {
			e := newEnv(b)
			seedRecords(b, e.dataDir, n)
			e.startDev()
			c, base := consoleClient(b, e)
			old := fmt.Sprintf("pipeline/acme/app%d:main@0193abcd-0000-7000-8000-%012d", (n/2)%20, n/2)
			for _, p := range []struct{ name, path, want string }{
				{"runs-page", "/", "acme/app"},
				{"runs-page-filtered", "/?repository=acme/app7&state=rejected", "rejected"},
				{"old-run-page", "/run?id=" + url.QueryEscape(old), "record of it"},
			} {
				b.Run(p.name, func(b *testing.B) {
					var ds []time.Duration
					for b.Loop() {
						ds = append(ds, getPage(b, c, base+p.path, p.want))
					}
					benchq.Report(b, ds)
				})
			}
		})
	}
}

// BenchmarkConsoleLogDelay: a log line's delay from the build step that
// prints it (its own timestamp) to a reader of the run page's event
// stream, against the same lines read by `sluice logs --follow`'s API
// call on the same server at the same time (the baseline). p50 and p95 in
// ms over a build printing a line every 50 ms for 10 s. Run once:
// -benchtime 1x.
func BenchmarkConsoleLogDelay(b *testing.B) {
	e := newEnv(b)
	e.startDev()
	spec := `version: 1
name: ticks
build:
  commands:
    - for i in $(seq 200); do echo "tick $(date +%s%N)"; sleep 0.05; done
`
	repo, _ := gitsrctest.Repo(b, "../../examples/hello", spec)
	for b.Loop() {
		var started struct {
			RunID string `json:"run_id"`
		}
		if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
			b.Fatalf("run: %d", code)
		}
		c, base := consoleClient(b, e)
		token, _ := os.ReadFile(filepath.Join(e.dataDir, "api-token"))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		wf, run, _ := strings.Cut(started.RunID, "@")
		var mu sync.Mutex
		delays := map[string][]time.Duration{}
		read := func(name string, req *http.Request, client *http.Client, prefix string) {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := strings.TrimPrefix(sc.Text(), prefix)
				_, ts, ok := strings.Cut(line, "build | tick ")
				if !ok {
					if strings.Contains(line, "run finished") || strings.HasPrefix(sc.Text(), "event: end") {
						return
					}
					continue
				}
				ns, err := strconv.ParseInt(ts, 10, 64)
				if err != nil {
					continue
				}
				mu.Lock()
				delays[name] = append(delays[name], time.Since(time.Unix(0, ns)))
				mu.Unlock()
			}
		}
		var wg sync.WaitGroup
		page, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/run/events?id="+url.QueryEscape(started.RunID), nil)
		api, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/logs/"+run+"?follow=1&workflow="+url.QueryEscape(wf), nil)
		api.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		wg.Go(func() { read("console", page, c, "data: ") })
		wg.Go(func() { read("api", api, http.DefaultClient, "") })
		wg.Wait()
		cancel()
		// the lines both read before they were live are not delays
		for name, ds := range delays {
			if len(ds) < 150 {
				b.Fatalf("%s read %d ticks", name, len(ds))
			}
			ds = ds[len(ds)-150:]
			b.ReportMetric(benchq.Millis(ds, 0.5), name+"-ms-p50")
			b.ReportMetric(benchq.Millis(ds, 0.95), name+"-ms-p95")
		}
		b.ReportMetric(0, "ns/op")
	}
}
