package image

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-cd/sluice/testenv"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestRegistryCredentials replicates a signed image into a registry that
// requires a login (the distribution registry with htpasswd, as Harbor
// requires one): with the worker's Docker config (docker login) it works
// and the copy verifies; without it the registry refuses.
func TestRegistryCredentials(t *testing.T) {
	p := testenv.Require(t)
	bin, err := exec.LookPath("registry")
	if err != nil {
		t.Fatalf("the platform's registry binary is not on PATH (eval \"$(make -s platform-env)\"): %v", err)
	}
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret-pass"), bcrypt.DefaultCost)
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("ci:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s/data}}\nhttp: {addr: %s}\nauth: {htpasswd: {realm: sluice-test, path: %s/htpasswd}}\n", dir, addr, dir)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	poll.Until(t, "the registry to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	})

	ctx := context.Background()
	repo := fmt.Sprintf("%s/sluice-test/auth-%d", p.Registry, time.Now().UnixNano())
	digest := copyBusybox(t, p.Registry, repo)
	signer, err := LoadSigner(mustKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	commit := "0123456789abcdef0123456789abcdef01234567"
	if err := signer.Sign(ctx, repo, digest, commit); err != nil {
		t.Fatal(err)
	}
	dst := addr + "/team/app"

	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials
	if err := Replicate(ctx, repo, digest, dst, "available"); err == nil {
		t.Fatal("the registry took an image without a login")
	}
	login := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret-pass"))
	if err := os.WriteFile(filepath.Join(login, "config.json"), []byte(`{"auths":{"`+addr+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", login)
	if err := Replicate(ctx, repo, digest, dst, "available"); err != nil {
		t.Fatalf("with the worker's login: %v", err)
	}
	if _, err := signer.Verifier().Verify(ctx, dst, digest, commit); err != nil {
		t.Fatalf("the copy in the authenticated registry: %v", err)
	}
}

// copyBusybox copies the platform's busybox image to repo:a and returns
// its digest.
func copyBusybox(t *testing.T, registry, repo string) string {
	t.Helper()
	if err := crane.Copy(registry+"/sluice/busybox:latest", repo+":a", crane.Insecure, crane.WithJobs(1)); err != nil {
		t.Fatal(err)
	}
	d, err := Digest(context.Background(), repo, "a")
	if err != nil {
		t.Fatal(err)
	}
	return d
}
