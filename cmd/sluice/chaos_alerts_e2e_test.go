package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/chaos/chaostest"
	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
	"github.com/sluice-cd/sluice/testenv/promtest"
)

// instanceDown pages when a scraped pod of the sample does not answer.
const instanceDown = `groups:
  - name: hello
    rules:
      - alert: HelloInstanceDown
        expr: up{app="hello"} == 0
        labels: {severity: page}
`

// everyInstance fires one alert per running pod of the sample.
const everyInstance = `groups:
  - name: hello
    rules:
      - alert: HelloInstanceUp
        expr: up{app="hello"} == 1
        labels: {severity: info}
`

// TestChaosAlerting runs experiments that judge the alerting with a real
// Prometheus and Alertmanager (Debian's packages) scraping the sample on
// the local platform and notifying Sluice's /hooks/alertmanager: a bad
// upgrade (pods that never answer) must page oncall within 30 s — it does
// with the rule, and the experiment fails without it — and a rule whose
// alerts are not grouped is reported as a storm.
func TestChaosAlerting(t *testing.T) {
	p := testenv.Require(t)
	e := newEnv(t)
	const token = "alertmanager-token-0123456789"
	cfg := filepath.Join(t.TempDir(), "sluice.yml")
	if err := os.WriteFile(cfg, []byte("alertmanager: {token: {env: SLUICE_TEST_AM_TOKEN}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_TEST_AM_TOKEN", token)
	e.startDev("--worker=false", "--config", cfg)
	e.start("worker", "--data-dir", e.dataDir, "--kubeconfig", p.Kubeconfig)
	app := chaostest.DeploySample(t, 2)
	hook := "http://127.0.0.1:" + strconv.Itoa(e.http) + "/hooks/alertmanager"
	stack := func(t *testing.T, rules string, groupBy ...string) *promtest.Stack {
		return promtest.Start(t, promtest.Options{Client: app.Client, Namespaces: []string{app.Namespace},
			Rules: rules, WebhookURL: hook, WebhookToken: token, Receiver: "oncall", GroupBy: groupBy})
	}
	badUpgrade := writeExperiment(t, "bad-upgrade", fmt.Sprintf(`  - {kind: upgrade, image: %q, duration: 15s}
alerts:
  expect: [{name: HelloInstanceDown, labels: {severity: page}, receiver: oncall, within: 30s}]
  max-notifications: 5
`, p.Registry+"/sluice/busybox:latest"))

	t.Run("the expected alert fires: passes", func(t *testing.T) {
		stack(t, instanceDown)
		out, errOut, code := e.sluice("chaos", "run", badUpgrade, "--target-namespace", app.Namespace)
		t.Log(out)
		if code != 0 || !strings.Contains(out, "alert notification to oncall: firing HelloInstanceDown") || !strings.Contains(out, "PASSED") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		// the console shows the verdict, the probe (its error windows, if
		// any: two replicas may hide the upgrade from it) and
		// the alert received, and lists the experiment once it has ended
		id := regexp.MustCompile(`experiment started: (chaos/\S+)`).FindStringSubmatch(out)
		if id == nil {
			t.Fatalf("no id in:\n%s", out)
		}
		c, base := consoleClient(t, e)
		getPage(t, c, base+"/chaos/run?id="+url.QueryEscape(id[1]),
			"HelloInstanceDown (firing)", `id="verdict" class="state state-passed"`, `<td>faults and recovery</td>`)
		poll.UntilWithin(t, 30*time.Second, "the experiment listed on the console's chaos page", func() bool {
			resp, err := c.Get(base + "/chaos")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(body), id[1])
		})
		app.WaitReady(t, 2)
	})
	t.Run("the rule removed: fails", func(t *testing.T) {
		stack(t, "")
		out, errOut, code := e.sluice("chaos", "run", badUpgrade, "--target-namespace", app.Namespace)
		t.Log(out)
		if code != 1 || !strings.Contains(out, "expected alert HelloInstanceDown at receiver oncall did not fire within 30s") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		app.WaitReady(t, 2)
	})
	t.Run("alerts not grouped: a storm", func(t *testing.T) {
		stack(t, everyInstance, "...")
		f := writeExperiment(t, "storm", `  - {kind: pod-kill, duration: 5s}
alerts: {max-notifications: 1}
`)
		out, errOut, code := e.sluice("chaos", "run", f, "--target-namespace", app.Namespace)
		t.Log(out)
		if code != 1 || !strings.Contains(out, "alert storm: ") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
}
