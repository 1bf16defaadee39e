package devserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	batchpb "go.temporal.io/api/batch/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/testenv/poll"
)

// TestAuthorization starts the embedded Temporal with authorization on:
// a client without an API key, with a forged or expired one, or with a
// reader's key asking to write, is refused; a writer's key starts
// workflows; the server's own system worker still runs Schedules (it
// reaches the internal frontend by its internode certificate); and the
// Web UI reads with the reader's token it was given.
func TestAuthorization(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	uiPort, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	const ns = "default"
	sign := func(k *ecdsa.PrivateKey, role string, ttl time.Duration) string {
		s, err := devserver.SignAPIKey(k, "test", ns, role, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	srv, err := devserver.Start(devserver.Options{FrontendPort: port, UIPort: uiPort, Namespace: ns, Auth: &devserver.Auth{
		Key:     &key.PublicKey,
		UIToken: func() (string, error) { return devserver.SignAPIKey(key, "temporal-ui", ns, "read", time.Minute) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dial := func(apiKey string) client.Client {
		opts := client.Options{HostPort: srv.Address, Namespace: ns}
		if apiKey != "" {
			opts.Credentials = client.NewAPIKeyStaticCredentials(apiKey)
			opts.ConnectionOptions.TLSDisabled = true
		}
		c, err := client.NewLazyClient(opts) // a bad key fails Dial already: lazily, each call is refused
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	start := func(c client.Client, id string) error {
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "nobody"}, "Anything")
		return err
	}
	describe := func(c client.Client) error {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		return err
	}
	denied := func(what string, err error) {
		t.Helper()
		var pd *serviceerror.PermissionDenied
		if !errors.As(err, &pd) {
			t.Errorf("%s: %v, want PermissionDenied", what, err)
		}
	}

	for name, c := range map[string]client.Client{
		"no API key":      dial(""),
		"a forged key":    dial(sign(forger, "admin", time.Hour)),
		"an expired key":  dial(sign(key, "admin", -time.Minute)),
		"another's space": dial(func() string { s, _ := devserver.SignAPIKey(key, "test", "elsewhere", "admin", time.Hour); return s }()),
	} {
		denied(name+" describing the namespace", describe(c))
		denied(name+" starting a workflow", start(c, "refused-"+name))
	}
	reader := dial(sign(key, "read", time.Hour))
	if err := describe(reader); err != nil {
		t.Fatalf("a reader's key cannot read: %v", err)
	}
	denied("a reader starting a workflow", start(reader, "refused-reader"))

	writer := dial(sign(key, "write", time.Hour))
	if err := start(writer, "started-by-writer"); err != nil {
		t.Fatalf("a writer's key cannot start a workflow: %v", err)
	}

	// A Schedule's runs are started by the system worker.
	h, err := writer.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: "every-hour", Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}}, TriggerImmediately: true,
		Action: &client.ScheduleWorkflowAction{ID: "scheduled", Workflow: "Anything", TaskQueue: "nobody"},
	})
	if err != nil {
		t.Fatalf("create schedule: %v", err)
	}
	poll.Until(t, "the system worker to start the schedule's first run", func() bool {
		d, err := h.Describe(ctx)
		return err == nil && len(d.Info.RecentActions) > 0
	})

	// Batch operations run on the system worker, which reaches the
	// internal frontend by its internode certificate.
	if _, err := writer.WorkflowService().StartBatchOperation(ctx, &workflowservice.StartBatchOperationRequest{
		Namespace: ns, JobId: "cancel-all", Reason: "test", VisibilityQuery: "WorkflowId = 'started-by-writer'",
		Operation: &workflowservice.StartBatchOperationRequest_CancellationOperation{CancellationOperation: &batchpb.BatchOperationCancellation{}},
	}); err != nil {
		t.Fatalf("start batch operation: %v", err)
	}
	poll.Until(t, "the system worker to run the batch operation", func() bool {
		d, err := writer.WorkflowService().DescribeBatchOperation(ctx, &workflowservice.DescribeBatchOperationRequest{Namespace: ns, JobId: "cancel-all"})
		return err == nil && d.GetState() == enumspb.BATCH_OPERATION_STATE_COMPLETED
	})

	// Whoever reaches the internal frontend acts as the system, so no
	// internal port completes a call without the internode certificate:
	// not in plain text, not over TLS without a client certificate.
	health := func(addr string, creds credentials.TransportCredentials) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := health(srv.Address, insecure.NewCredentials()); err != nil {
		t.Fatalf("the public frontend's health check: %v", err)
	}
	ports := srv.InternalPorts()
	if len(ports) != 4 {
		t.Fatalf("internal ports %v, want history, matching, worker and the internal frontend", ports)
	}
	for _, p := range ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if err := health(addr, insecure.NewCredentials()); err == nil {
			t.Errorf("internal port %d answered in plain text", p)
		}
		if err := health(addr, credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})); err == nil {
			t.Errorf("internal port %d answered a client without a certificate", p)
		}
	}

	// The Web UI reads with its reader's token.
	url := fmt.Sprintf("%s/api/v1/namespaces/%s/workflows", srv.UIAddress, ns)
	var listed struct {
		Executions []json.RawMessage `json:"executions"`
	}
	poll.Until(t, "the Web UI to list the workflows", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(body, &listed) == nil && len(listed.Executions) >= 2
	})
}
