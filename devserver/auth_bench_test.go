package devserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/devserver"
)

// BenchmarkAuthorization is what Temporal's authorization costs a request:
// DescribeNamespace round trips against one embedded server without
// authorization and one that verifies an API key on each (plain text
// both, so only the key's verification differs). Compare the two ns/op.
func BenchmarkAuthorization(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		auth *devserver.Auth
	}{{"open", nil}, {"api-key", &devserver.Auth{Key: &key.PublicKey}}} {
		b.Run(c.name, func(b *testing.B) {
			port, err := devserver.FreePort()
			if err != nil {
				b.Fatal(err)
			}
			srv, err := devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, Auth: c.auth})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			opts := client.Options{HostPort: srv.Address, Namespace: srv.Namespace}
			if c.auth != nil {
				apiKey, err := devserver.SignAPIKey(key, "bench", srv.Namespace, "read", time.Hour)
				if err != nil {
					b.Fatal(err)
				}
				opts.Credentials = client.NewAPIKeyStaticCredentials(apiKey)
				opts.ConnectionOptions.TLSDisabled = true
			}
			cl, err := client.Dial(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			req := &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace}
			if _, err := cl.WorkflowService().DescribeNamespace(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := cl.WorkflowService().DescribeNamespace(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
