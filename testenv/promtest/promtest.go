// Package promtest runs a real Prometheus and Alertmanager (Debian's
// packages) for one test: Prometheus scrapes the pods of the given
// namespaces on the local platform and evaluates the test's alert rules,
// Alertmanager sends every notification to a webhook. Both stop, and their
// data goes, when the test ends.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/testenv"
)

// Binaries of Debian's prometheus and prometheus-alertmanager packages.
const (
	PrometheusBin   = "/usr/bin/prometheus"
	AlertmanagerBin = "/usr/bin/prometheus-alertmanager"
)

// Options configure the stack.
type Options struct {
	// Client lists the pods to scrape. Debian's Prometheus is built
	// without Kubernetes service discovery, so the stack writes the pods
	// into a file Prometheus watches (file_sd), twice a second.
	Client kubernetes.Interface
	// Namespaces whose pods are scraped at PORT/metrics, every second; a pod
	// is scraped on each container port named "http" or numbered 8080.
	Namespaces []string
	// Static are targets scraped besides the pods (a loopback exporter
	// of the test's), at /metrics every second.
	Static []Target
	// Rules is a Prometheus rule file (groups: ...), evaluated every second;
	// empty: no rules.
	Rules string
	// WebhookURL receives Alertmanager's notifications with
	// `Authorization: Bearer WebhookToken`; empty: no Alertmanager is
	// started (AlertmanagerURL stays empty).
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
	s := &Stack{}
	amAddr, promAddr := freeAddr(tb), freeAddr(tb)
	s.AlertmanagerURL, s.PrometheusURL = "http://"+amAddr, "http://"+promAddr

	if o.WebhookURL != "" {
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
	}
	rules := o.Rules
	if rules == "" {
		rules = "groups: []\n"
	}
	write(tb, filepath.Join(dir, "rules.yml"), rules)
	write(tb, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms}
rule_files: [%s]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:
  - job_name: pods
    file_sd_configs: [{files: [%s], refresh_interval: 1s}]
`, filepath.Join(dir, "rules.yml"), amAddr, filepath.Join(dir, "targets.json")))
	targets := filepath.Join(dir, "targets.json")
	if err := writeTargets(o, targets); err != nil {
		tb.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = writeTargets(o, targets)
			}
		}
	}()
	tb.Cleanup(func() { close(stop); <-done })

	if o.WebhookURL == "" {
		s.AlertmanagerURL = ""
	} else {
		s.run(tb, AlertmanagerBin, "--config.file="+filepath.Join(dir, "alertmanager.yml"), "--storage.path="+filepath.Join(dir, "am"),
			"--web.listen-address="+amAddr, "--cluster.listen-address=")
	}
	s.run(tb, PrometheusBin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	for _, u := range []string{s.AlertmanagerURL, s.PrometheusURL} {
		if u == "" {
			continue
		}
		ready(tb, u+"/-/ready")
	}
	return s
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

// freeAddr is a loopback address for a server this test starts, reserved
// against other test binaries picking ports (see devserver.FreePort).
func freeAddr(tb testing.TB) string {
	tb.Helper()
	p, err := devserver.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
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

// Target is one entry of a file_sd file: addresses (host:port) and the
// labels their series get.
type Target struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// writeTargets lists the running pods of the namespaces and writes them
// (atomically) as Prometheus file_sd targets with their namespace, pod and
// app labels.
func writeTargets(o Options, path string) error {
	out := append([]Target{}, o.Static...)
	for _, ns := range o.Namespaces {
		pods, err := o.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Spec.Containers {
				for _, port := range c.Ports {
					if port.Name != "http" && port.ContainerPort != 8080 {
						continue
					}
					out = append(out, Target{
						Targets: []string{net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))},
						Labels:  map[string]string{"namespace": ns, "pod": p.Name, "app": p.Labels["app"]},
					})
				}
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
