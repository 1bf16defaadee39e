package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/policy"
	"github.com/sluice-cd/sluice/testenv"
)

func project(file string) policy.Project {
	return policy.Project{
		Name: "payments", Repositories: []string{"acme/pay"},
		Environments: policy.Environments{Production: &policy.Environment{Branches: []string{"main"}, Namespaces: []string{"pay-prod"}}},
		Secrets: []policy.Secret{
			{Name: "npm_token", File: file, Phases: []string{pipelines.PhaseBuild}},
			{Name: "deploy_key", Env: "PAY_DEPLOY_KEY", Phases: []string{pipelines.PhaseBuild, pipelines.PhaseProduction}, Protected: true},
			{Name: "short", Env: "PAY_SHORT", Phases: []string{pipelines.PhaseBuild}},
			{Name: "unset", Env: "PAY_UNSET", Phases: []string{pipelines.PhaseBuild}},
			{Name: "missing_file", File: file + ".missing", Phases: []string{pipelines.PhaseBuild}},
		},
	}
}

// TestRead: values come from their sources only for a phase and branch the
// project gives them to, checked again by the reader (a request built under
// another policy, or forged, is refused); an unreadable source names the
// secret and what to do, never the value.
func TestRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "npm")
	if err := os.WriteFile(file, []byte("npm-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PAY_DEPLOY_KEY": "deploy-key-value-0123", "PAY_SHORT": "abc"}
	r := &Reader{Projects: []policy.Project{project(file)}, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	ctx := context.Background()

	got, err := r.Read(ctx, &contract.Secrets{Project: "payments", Branch: "main", Phase: pipelines.PhaseBuild, Names: []string{"npm_token", "deploy_key"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := Env(got); len(e) != 2 || e["NPM_TOKEN"] != "npm-0123456789abcdef" || e["DEPLOY_KEY"] != "deploy-key-value-0123" {
		t.Fatalf("values %v", e)
	}
	if none, err := r.Read(ctx, nil); err != nil || none != nil {
		t.Fatalf("no secrets: %v %v", none, err)
	}
	for _, c := range []struct {
		want contract.Secrets
		err  error
		msg  string
	}{
		{contract.Secrets{Project: "payments", Branch: "feature/x", Phase: pipelines.PhaseBuild, Names: []string{"deploy_key"}}, ErrRefused, "secret deploy_key is protected"},
		{contract.Secrets{Project: "payments", Branch: "main", Phase: pipelines.PhaseTest, Names: []string{"npm_token"}}, ErrRefused, "not given to the test phase"},
		{contract.Secrets{Project: "other", Branch: "main", Phase: pipelines.PhaseBuild, Names: []string{"npm_token"}}, ErrRefused, `project "other" is not in this worker's configuration`},
		{contract.Secrets{Project: "payments", Branch: "main", Phase: pipelines.PhaseBuild, Names: []string{"short"}}, ErrUnreadable, "secret short (environment variable PAY_SHORT of the worker): secret unreadable: the value is shorter than 8 characters"},
		{contract.Secrets{Project: "payments", Branch: "main", Phase: pipelines.PhaseBuild, Names: []string{"unset"}}, ErrUnreadable, "the worker's environment does not set it"},
		{contract.Secrets{Project: "payments", Branch: "main", Phase: pipelines.PhaseBuild, Names: []string{"missing_file"}}, ErrUnreadable, "secret missing_file (file " + file + ".missing): secret unreadable: no such file or directory"},
	} {
		_, err := r.Read(ctx, &c.want)
		if !errors.Is(err, c.err) || !strings.Contains(fmt.Sprint(err), c.msg) {
			t.Errorf("%+v: %v, want %v saying %q", c.want, err, c.err, c.msg)
		}
		if err != nil && strings.Contains(err.Error(), "abc") {
			t.Errorf("the error shows the value: %v", err)
		}
	}
	var none *Reader
	if _, err := none.Read(ctx, &contract.Secrets{Project: "payments", Names: []string{"npm_token"}}); !errors.Is(err, ErrRefused) {
		t.Fatalf("a worker without secrets: %v", err)
	}
}

// TestReadKubernetes reads a key of a real Secret on the local platform;
// a missing Secret or key says how to make it.
func TestReadKubernetes(t *testing.T) {
	p := testenv.Require(t)
	_, client := p.Connect(t)
	ctx := context.Background()
	ns := fmt.Sprintf("sluice-secrets-%d", time.Now().UnixNano()%1_000_000_000)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pay-db"},
		Data: map[string][]byte{"password": []byte("db-password-0123")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pr := policy.Project{Name: "payments", Secrets: []policy.Secret{
		{Name: "db_password", Kubernetes: &policy.SecretKeyRef{Namespace: ns, Name: "pay-db", Key: "password"}, Phases: []string{pipelines.PhaseIntegration}},
		{Name: "no_key", Kubernetes: &policy.SecretKeyRef{Namespace: ns, Name: "pay-db", Key: "user"}, Phases: []string{pipelines.PhaseIntegration}},
		{Name: "no_secret", Kubernetes: &policy.SecretKeyRef{Namespace: ns, Name: "absent", Key: "password"}, Phases: []string{pipelines.PhaseIntegration}},
	}}
	r := &Reader{Projects: []policy.Project{pr}, Kube: client}
	want := func(name string) *contract.Secrets {
		return &contract.Secrets{Project: "payments", Branch: "main", Phase: pipelines.PhaseIntegration, Names: []string{name}}
	}
	got, err := r.Read(ctx, want("db_password"))
	if err != nil || len(got) != 1 || got[0].Env != "DB_PASSWORD" || got[0].Value != "db-password-0123" {
		t.Fatalf("read %v %v", got, err)
	}
	if _, err := r.Read(ctx, want("no_key")); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "the Secret has no key user") {
		t.Errorf("missing key: %v", err)
	}
	if _, err := r.Read(ctx, want("no_secret")); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "kubectl -n "+ns+" create secret generic absent") {
		t.Errorf("missing Secret: %v", err)
	}
	r.Kube = nil
	if _, err := r.Read(ctx, want("db_password")); !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "no cluster") {
		t.Errorf("no cluster: %v", err)
	}
}
