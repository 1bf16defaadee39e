package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
)

// consoleSpec builds for a few seconds, printing as it goes, then waits
// for an approval.
const consoleSpec = `version: 1
name: pay
build:
  commands:
    - for i in 1 2 3 4 5 6; do echo "compiling part $i of 6"; sleep 1; done
approval: {approvers: {users: [alice, bob]}, timeout: 1h, reminder: 30m}
`

// chromium is Debian's Chromium (.ci/run installs it).
const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium of its own and returns a tab in it.
// Each call is a separate browser: its own cookies, its own user.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the console's tests need Chromium at %s (apt-get install chromium): %v", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// screenshots is where the console's screenshots go: SLUICE_SCREENSHOTS
// (make console-docs writes docs/console), else the test's temp dir.
func screenshots(t *testing.T) string {
	if dir := os.Getenv("SLUICE_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil || len(png) < 1000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", name, err, len(png))
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// do runs browser actions, failing the test with what the page shows.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

// until waits for a JavaScript condition on the page. It asks again after
// an error: a click that submits a form navigates while it waits.
func until(cond string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		var last error
		deadline := time.Now().Add(timeout)
		for {
			ok, err := chromedp.Evaluate[bool]("!!("+cond+")")(ctx, t)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			if err != nil {
				last = err
			}
			if time.Now().After(deadline) {
				if last == nil {
					return chromedp.Void{}, fmt.Errorf("waited %s for %s", timeout, cond)
				}
				return chromedp.Void{}, fmt.Errorf("waited %s for %s (last error: %w)", timeout, cond, last)
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// consoleSignIn signs the browser of ctx in to the console at base with
// token; the header then names who.
func consoleSignIn(t *testing.T, ctx context.Context, base, token, who string) {
	t.Helper()
	do(t, ctx, "sign in as "+who,
		chromedp.Navigate(base+"/"),
		until(`location.pathname == "/signin"`, 10*time.Second),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("signin")),
		until(`document.getElementById("who") && document.getElementById("who").textContent.includes(`+strconv.Quote(who)+`)`, 10*time.Second))
}

// pageHTML is the page's whole document.
func pageHTML(t *testing.T, ctx context.Context) string {
	t.Helper()
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	return html
}

// untilReloaded loads url again every second until cond holds on it: for
// pages that do not follow what they show.
func untilReloaded(url, cond string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		deadline := time.Now().Add(timeout)
		for {
			if _, err := chromedp.Navigate(url)(ctx, t); err != nil {
				return chromedp.Void{}, err
			}
			if ok, err := chromedp.Evaluate[bool]("!!("+cond+")")(ctx, t); err == nil && ok {
				return chromedp.Void{}, nil
			}
			if time.Now().After(deadline) {
				return chromedp.Void{}, fmt.Errorf("reloaded %s for %s until %s", url, timeout, cond)
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
}

// TestConsoleInChromium drives the web console of a `sluice dev` in a real
// headless Chromium: an approver signs in, watches a run's log and phases
// move without reloading, approves it from the page and sees it succeed,
// and asks for a rollback from the environments page; a viewer sees no
// Approve button and a decision forged from the viewer's session is
// refused by the API's role check; a form posted from another origin is
// refused. Every page is photographed.
func TestConsoleInChromium(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	repo, commit := gitsrctest.Repo(t, "../../examples/hello", consoleSpec)
	cfg := filepath.Join(dir, "sluice.yml")
	body := `repositories:
  - {name: acme/pay, provider: github, clone_url: "` + repo + `", webhook_secret: {env: HOOK}}
projects:
  - name: payments
    repositories: [acme/pay]
    environments: {production: {namespaces: [pay-prod]}}
api_tokens:
  - {name: alice-laptop, user: alice, token: {file: "` + writeToken(t, dir, "alice", "alice-console-token-0123456789") + `"}, roles: {payments: [approver, releaser]}}
  - {name: vic, user: vic, token: {file: "` + writeToken(t, dir, "viewer", "viewer-console-token-0123456789") + `"}, roles: {payments: [viewer]}}
  - {name: root, token: {file: "` + writeToken(t, dir, "root", rootToken) + `"}, roles: {"*": [admin]}}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOK", "console-webhook-secret")
	e.startDev("--config", cfg)
	base := "http://127.0.0.1:" + strconv.Itoa(e.http)
	r := &roleEnv{env: e, api: base}
	shots := screenshots(t)

	alice := browser(t)
	do(t, alice, "the sign-in page", chromedp.Navigate(base+"/"), until(`document.getElementById("token") != null`, 10*time.Second))
	shoot(t, alice, shots, "signin")
	consoleSignIn(t, alice, base, "alice-console-token-0123456789", "alice")

	// a run starts; its page follows the log and the phases as they move
	code, out := r.call(rootToken, http.MethodPost, "/api/v1/runs", map[string]string{"repo": "acme/pay", "branch": "main"})
	if code != http.StatusAccepted {
		t.Fatalf("start a run: %d %v", code, out)
	}
	ref := out["ref"].(map[string]any)
	run := ref["workflow_id"].(string) + "@" + ref["run_id"].(string)
	runPage := base + "/run?id=" + url.QueryEscape(run)
	do(t, alice, "the run page while it builds",
		chromedp.Navigate(runPage),
		chromedp.Evaluate[chromedp.Void](`window.sluiceFirstLoad = true`),
		until(`document.getElementById("log").textContent.includes("compiling part 2 of 6")`, 2*time.Minute))
	if st := r.state(run); st != "running" {
		t.Fatalf("the log showed part 2 but the run is %s: the page was not live", st)
	}
	shoot(t, alice, shots, "run-building")
	do(t, alice, "the run reaching its approval on the same page",
		until(`document.getElementById("log").textContent.includes("compiling part 6 of 6")`, time.Minute),
		until(`document.getElementById("state").textContent == "awaiting approval" && document.getElementById("approve") != null`, time.Minute),
		until(`window.sluiceFirstLoad === true`, time.Second)) // never reloaded
	shoot(t, alice, shots, "run-awaiting-approval")

	// a viewer sees the run but no button, and a forged decision is refused
	vic := browser(t)
	consoleSignIn(t, vic, base, "viewer-console-token-0123456789", "vic")
	do(t, vic, "the viewer's run page", chromedp.Navigate(runPage),
		until(`document.getElementById("state").textContent == "awaiting approval"`, 10*time.Second))
	if n, _ := chromedp.Run(vic, chromedp.Evaluate[int](`document.querySelectorAll("#approve, #reject").length`)); n != 0 {
		t.Fatalf("the viewer sees %d decision buttons", n)
	}
	forged, err := chromedp.Run(vic, chromedp.Evaluate[string](`(async () => {
		const csrf = document.querySelector("form.signout input[name=csrf]").value;
		const body = new URLSearchParams({csrf: csrf, id: `+strconv.Quote(run)+`, commit: `+strconv.Quote(commit)+`, approve: "1"});
		const resp = await fetch("/run/decide", {method: "POST", body: body});
		return resp.status + " " + await resp.text();
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(forged, "403 ") || !strings.Contains(forged, "no role that may approve") {
		t.Fatalf("the viewer's forged decision: %v %.300s", err, forged)
	}

	// a form on another origin posting to the console with alice's cookie
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/run/decide">
<input name="id" value="%s"><input name="commit" value="%s"><input name="approve" value="1"><input name="csrf" value="guess"></form>
<script>document.getElementById("f").submit()</script>`, base, run, commit)
	}))
	defer evil.Close()
	do(t, alice, "a cross-origin form", chromedp.Navigate(evil.URL),
		until(`location.href.startsWith(`+strconv.Quote(base)+`) && document.body.innerText.includes("came from another site")`, 10*time.Second))
	if st := r.state(run); st != "awaiting_approval" {
		t.Fatalf("after the refused requests the run is %s", st)
	}

	// alice approves from the page and watches the run finish
	do(t, alice, "approve from the page",
		chromedp.Navigate(runPage),
		chromedp.SendKeys(chromedp.ID("comment"), "looks good"),
		chromedp.Click(chromedp.ID("approve")),
		until(`document.getElementById("flash") && document.getElementById("flash").textContent.includes("Approved as alice")`, 10*time.Second),
		until(`document.getElementById("state").textContent == "succeeded"`, time.Minute),
		until(`document.getElementById("decisions").textContent.includes("looks good")`, 10*time.Second))
	if st := r.state(run); st != "succeeded" {
		t.Fatalf("the page says succeeded, the server %s", st)
	}
	shoot(t, alice, shots, "run-succeeded")

	do(t, alice, "the runs page", chromedp.Navigate(base+"/"),
		until(`document.getElementById("runs").textContent.includes("succeeded")`, 10*time.Second))
	shoot(t, alice, shots, "runs")
	do(t, alice, "the log page", chromedp.Navigate(base+"/run/log?id="+url.QueryEscape(run)),
		until(`document.getElementById("log-page").textContent.includes("compiling part 6 of 6")`, 10*time.Second))
	shoot(t, alice, shots, "log")
	do(t, alice, "the delivery page", chromedp.Navigate(base+"/delivery"), until(`document.getElementById("dora") != null`, 10*time.Second))
	shoot(t, alice, shots, "delivery")

	// a rollback asked from the page is the durable Rollback the CLI starts
	do(t, alice, "ask for a rollback",
		chromedp.Navigate(base+"/environments"),
		chromedp.SendKeys(chromedp.CSS(`form.rollback input[name=pipeline]`), "pay"),
		chromedp.SendKeys(chromedp.CSS(`form.rollback input[name=reason]`), "v2 is slow"))
	shoot(t, alice, shots, "environments")
	do(t, alice, "confirm the rollback",
		chromedp.Click(chromedp.CSS(`form.rollback input[name=confirm]`)),
		chromedp.Click(chromedp.CSS(`form.rollback button`)),
		until(`document.getElementById("flash") && document.getElementById("flash").textContent.includes("Rollback started as alice")`, 10*time.Second),
		until(`document.getElementById("run-id").textContent.startsWith("rollback/")`, time.Second))
	rollback, _ := chromedp.Run(alice, chromedp.Text(chromedp.ID("run-id")))
	if n := r.count("Rollback"); n != 1 {
		t.Fatalf("%d Rollback runs after the page's request", n)
	}
	// this dev server has no cluster: the rollback fails at the release,
	// saying so on the page
	do(t, alice, "the rollback's verdict", until(`document.getElementById("state").textContent == "failed"`, time.Minute))
	shoot(t, alice, shots, "rollback")
	if _, errOut, _ := e.sluice("status", rollback, "--token", rootToken); strings.Contains(errOut, "not found") {
		t.Fatalf("the rollback %s is unknown to the CLI: %s", rollback, errOut)
	}
	if n, _ := chromedp.Run(vic, chromedp.Evaluate[int](`fetch("/environments").then(r => r.text()).then(t => (t.match(/action="\/rollback"/g) || []).length)`,
		chromedp.EvalAwaitPromise)); n != 0 {
		t.Fatalf("the viewer is offered %d rollback forms", n)
	}
}
