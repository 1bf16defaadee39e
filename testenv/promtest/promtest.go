// Package promtest runs a real Prometheus and Alertmanager (Debian's
// packages) for one test: Prometheus scrapes the pods of the given
// namespaces on the local platform and evaluates the test's alert rules,
// Alertmanager sends every notification to a webhook. Both stop, and their
// data goes, when the test ends.
package promtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/testenv"
)

// Binaries of Debian's prometheus and prometheus-alertmanager packages.
const (
	PrometheusBin   = "/usr/bin/prometheus"
	AlertmanagerBin = "/usr/bin/prometheus-alertmanager"
)

// Options configure the stack.
type Options struct {
	Kubeconfig string
	// Namespaces whose pods are scraped at PORT/metrics, every second; a pod
	// is scraped on each container port named "http" or numbered 8080.
	Namespaces []string
	// Rules is a Prometheus rule file (groups: ...), evaluated every second.
	Rules string
	// WebhookURL receives Alertmanager's notifications with
	// `Authorization: Bearer WebhookToken`.
	WebhookURL, WebhookToken string
	// Receiver names the webhook receiver (default "sluice").
	Receiver string
	// GroupBy is the route's group_by (default [alertname]); ["..."] turns
	// grouping off: every alert is its own group.
	GroupBy []string
}

// Stack is a running Prometheus and Alertmanager.
type Stack struct {
	PrometheusURL, AlertmanagerURL string
	dir                            string
}

// Start runs the stack for tb; it fails tb (under CI as everywhere) when
// the packages are missing: .ci/run installs them.
func Start(tb testing.TB, o Options) *Stack {
	tb.Helper()
	for _, bin := range []string{PrometheusBin, AlertmanagerBin} {
		if _, err := os.Stat(bin); err != nil {
			if testenv.InCI() {
				tb.Fatalf("%s is missing: apt-get install prometheus prometheus-alertmanager", bin)
			}
			tb.Skipf("%s is missing: apt-get install prometheus prometheus-alertmanager", bin)
		}
	}
	if o.Receiver == "" {
		o.Receiver = "sluice"
	}
	if len(o.GroupBy) == 0 {
		o.GroupBy = []string{"alertname"}
	}
	dir := tb.TempDir()
	s := &Stack{dir: dir}
	amAddr, promAddr := freeAddr(tb), freeAddr(tb)
	s.AlertmanagerURL, s.PrometheusURL = "http://"+amAddr, "http://"+promAddr

	tokenFile := filepath.Join(dir, "webhook-token")
	write(tb, tokenFile, o.WebhookToken)
	write(tb, filepath.Join(dir, "alertmanager.yml"), fmt.Sprintf(`route:
  receiver: %s
  group_by: [%s]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: %s
    webhook_configs:
      - url: %s
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials_file: %s}
`, o.Receiver, quoteAll(o.GroupBy), o.Receiver, o.WebhookURL, tokenFile))
	s.SetRules(tb, o.Rules)
	write(tb, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}
rule_files: [%s]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: %s
        namespaces: {names: [%s]}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_container_port_name, __meta_kubernetes_pod_container_port_number]
        regex: 'http;.*|.*;8080'
        action: keep
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_label_app]
        target_label: app
`, filepath.Join(dir, "rules.yml"), amAddr, o.Kubeconfig, quoteAll(o.Namespaces)))

	s.run(tb, AlertmanagerBin, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	s.run(tb, PrometheusBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--web.enable-lifecycle")
	for _, u := range []string{s.AlertmanagerURL, s.PrometheusURL} {
		ready(tb, u+"/-/ready")
	}
	return s
}

// SetRules replaces the alert rules; a running Prometheus reloads them.
func (s *Stack) SetRules(tb testing.TB, rules string) {
	tb.Helper()
	if rules == "" {
		rules = "groups: []\n"
	}
	write(tb, filepath.Join(s.dir, "rules.yml"), rules)
	if s.PrometheusURL == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(s.dir, "tsdb")); err != nil {
		return // not started yet
	}
	resp, err := http.Post(s.PrometheusURL+"/-/reload", "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("reload Prometheus's rules: %s", resp.Status)
	}
}

func (s *Stack) run(tb testing.TB, bin string, args ...string) {
	tb.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = cmd.Process.Wait()
		if tb.Failed() {
			tb.Logf("%s:\n%s", filepath.Base(bin), tail(out.String(), 3000))
		}
	})
}

func ready(tb testing.TB, url string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("%s not ready within 30s", url)
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func write(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
