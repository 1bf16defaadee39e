package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:6443"}
- name: eu
  cluster: {server: "https://10.0.0.1:6443"}
users:
- name: u
  user: {token: "t"}
contexts:
- name: local
  context: {cluster: local, user: u}
- name: prod-eu
  context: {cluster: eu, user: u}
current-context: local
`

// TestConfigRaisesClientLimits: every connection Sluice reads from a
// kubeconfig leaves client-go's default 5 requests/s (a pool phase's
// requests queued 200 ms apart behind it), and a named context is the one
// reached.
func TestConfigRaisesClientLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(file, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ context, host string }{{"", "https://127.0.0.1:6443"}, {"prod-eu", "https://10.0.0.1:6443"}} {
		rc, err := Config(file, tc.context, false)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Host != tc.host || rc.QPS != ClientQPS || rc.Burst != ClientBurst {
			t.Errorf("context %q: host %s, %v requests/s, burst %d; want %s, %d, %d", tc.context, rc.Host, rc.QPS, rc.Burst, tc.host, ClientQPS, ClientBurst)
		}
	}
	if _, err := Config(file, "nowhere", false); err == nil || !strings.Contains(err.Error(), `context "nowhere"`) {
		t.Errorf("an unknown context: %v", err)
	}
	set := WithClientLimits(&rest.Config{QPS: 7, Burst: 9})
	if set.QPS != 7 || set.Burst != 9 {
		t.Errorf("limits the caller set were changed: %v/%d", set.QPS, set.Burst)
	}
}

// TestConfigOutsideAPod: without a kubeconfig and outside a pod the error
// says what to pass.
func TestConfigOutsideAPod(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	if _, err := Config("", "", false); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Errorf("no cluster: %v", err)
	}
}
