package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/runs"
)

// TestTemporalRefusesClientsWithoutAKey runs `sluice dev --temporal-auth`:
// a run asked through the HTTP API completes (the worker and the server
// use the data dir's API key); a plain Temporal client gets nowhere, and
// one over TLS without a key can neither read a run nor signal, cancel or
// terminate it, nor start one; `sluice status` goes through the server
// and needs no Temporal access.
func TestTemporalRefusesClientsWithoutAKey(t *testing.T) {
	e := newEnv(t)
	p := e.startDev("--temporal-auth")
	ca := filepath.Join(e.dataDir, "temporal-tls", "ca.pem")
	key := filepath.Join(e.dataDir, "temporal-api-key")
	if out := p.out.String(); !strings.Contains(out, "--temporal-tls-ca "+ca) || !strings.Contains(out, "--temporal-api-key-file "+key) {
		t.Fatalf("the banner does not say how to connect:\n%s", out)
	}
	repo, _ := gitRepo(t, "version: 1\nname: hello\nbuild:\n  commands: [\"true\"]\n")
	var started struct {
		RunID string `json:"run_id"`
	}
	if code := e.json(&started, "run", "--repo", repo, "--ref", "main"); code != 0 {
		_, errOut, _ := e.sluice("run", "--repo", repo, "--ref", "main")
		t.Fatalf("run through the API: code %d %s", code, errOut)
	}
	// sluice status asks the server: the CLI needs no Temporal access
	e.waitState(started.RunID, "succeeded", 2*time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref, err := runs.ParseRef(started.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := client.Dial(client.Options{HostPort: e.temporalAddress()}); err == nil {
		c.Close()
		t.Errorf("a plain-text Temporal client connected")
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := client.NewLazyClient(client.Options{HostPort: e.temporalAddress(),
		ConnectionOptions: client.ConnectionOptions{TLS: &tls.Config{RootCAs: roots, ServerName: "localhost"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for what, err := range map[string]error{
		"describe":  func() error { _, err := c.DescribeWorkflowExecution(ctx, ref.WorkflowID, ""); return err }(),
		"signal":    c.SignalWorkflow(ctx, ref.WorkflowID, "", "anything", nil),
		"cancel":    c.CancelWorkflow(ctx, ref.WorkflowID, ""),
		"terminate": c.TerminateWorkflow(ctx, ref.WorkflowID, "", "because I can"),
		"start": func() error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "intruder", TaskQueue: "sluice"}, "Pipeline")
			return err
		}(),
	} {
		var denied *serviceerror.PermissionDenied
		if !errors.As(err, &denied) {
			t.Errorf("%s without an API key: %v, want PermissionDenied", what, err)
		}
	}
}
