package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/sluice-cd/sluice/devserver"
	"github.com/sluice-cd/sluice/testenv/tlstest"
)

// TestTemporalMutualTLS dials an embedded Temporal whose frontend demands
// client certificates from its CA: only a client with such a certificate
// and the server's CA gets in.
func TestTemporalMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "temporal")
	server := ca.Issue(t, "frontend")
	client := ca.Issue(t, "sluice-worker")
	stranger := tlstest.NewCA(t, "stranger").Issue(t, "intruder")
	port := freePort(t)
	srv, err := devserver.Start(devserver.Options{FrontendPort: port, UIPort: -1, DatabaseFile: filepath.Join(t.TempDir(), "t.db"),
		TLS: &devserver.TLS{CertFile: server.CertFile, KeyFile: server.KeyFile, RootCAFile: ca.CertFile, ClientCAFile: ca.CertFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	dial := func(conn temporalConn) error {
		return askTemporal(srv, conn, func(ctx context.Context, c sdkclient.Client) error {
			_, err := c.WorkflowService().GetSystemInfo(ctx, nil)
			return err
		})
	}
	if err := dial(temporalConn{caFile: ca.CertFile, certFile: client.CertFile, keyFile: client.KeyFile}); err != nil {
		t.Fatalf("a client with a certificate of the server's CA was refused: %v", err)
	}
	for name, conn := range map[string]temporalConn{
		"plaintext":                   {},
		"TLS without a certificate":   {caFile: ca.CertFile},
		"certificate of another CA":   {caFile: ca.CertFile, certFile: stranger.CertFile, keyFile: stranger.KeyFile},
		"server's CA not trusted":     {tls: true, certFile: client.CertFile, keyFile: client.KeyFile},
		"server name not in the cert": {caFile: ca.CertFile, certFile: client.CertFile, keyFile: client.KeyFile, serverName: "temporal.example"},
	} {
		if err := dial(conn); err == nil {
			t.Errorf("%s: connected, want refused", name)
		}
	}
}

// askTemporal dials srv the way the CLI does, with conn, and makes one call.
func askTemporal(srv *devserver.Server, conn temporalConn, call func(context.Context, sdkclient.Client) error) error {
	g := &globals{temporalAddress: srv.Address, namespace: srv.Namespace, stderr: io.Discard, conn: conn}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return call(ctx, c)
}

func TestTemporalConnFlagErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "temporal")
	pair := ca.Issue(t, "c")
	key := filepath.Join(t.TempDir(), "key")
	writeFile(t, key, "tok-123\n")
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, "\n")
	for _, c := range []struct {
		conn temporalConn
		want string
	}{
		{temporalConn{apiKeyFile: key}, "plaintext"},
		{temporalConn{tls: true, apiKeyFile: empty}, "is empty"},
		{temporalConn{certFile: pair.CertFile}, "go together"},
		{temporalConn{caFile: pair.KeyFile}, "no PEM certificate"},
		{temporalConn{certFile: pair.CertFile, keyFile: ca.CertFile}, "client certificate"},
	} {
		err := c.conn.apply(new(clientOptions))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.conn, err, c.want)
		}
	}
	var opts clientOptions
	if err := (&temporalConn{tls: true, apiKeyFile: key}).apply(&opts); err != nil || opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Fatalf("API key over TLS: %v, credentials set %v", err, opts.Credentials != nil)
	}
}

type clientOptions = sdkclient.Options

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTemporalAPIKey dials an embedded Temporal that authorizes every
// request by its bearer token (Temporal's JWT claim mapper, keys from a
// JWKS URL): the API key from --temporal-api-key-file gets in; no key, a
// key signed by someone else, or one for another namespace does not.
func TestTemporalAPIKey(t *testing.T) {
	issuer, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pub := issuer.PublicKey
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	}))
	defer jwks.Close()
	ca := tlstest.NewCA(t, "temporal")
	server := ca.Issue(t, "frontend")
	srv, err := devserver.Start(devserver.Options{FrontendPort: freePort(t), UIPort: -1, DatabaseFile: filepath.Join(t.TempDir(), "t.db"),
		TLS: &devserver.TLS{CertFile: server.CertFile, KeyFile: server.KeyFile, RootCAFile: ca.CertFile}, Auth: &devserver.Auth{JWKSURL: jwks.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	apiKey := func(key *rsa.PrivateKey, permission string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"sub": "sluice-worker", "permissions": []string{permission}, "exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "api-key")
		writeFile(t, file, s+"\n")
		return file
	}
	describe := func(keyFile string) error {
		return askTemporal(srv, temporalConn{caFile: ca.CertFile, apiKeyFile: keyFile}, func(ctx context.Context, c sdkclient.Client) error {
			_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace})
			return err
		})
	}
	if err := describe(apiKey(issuer, srv.Namespace+":admin")); err != nil {
		t.Fatalf("a valid API key was refused: %v", err)
	}
	for name, keyFile := range map[string]string{
		"no API key":          "",
		"forged API key":      apiKey(forger, srv.Namespace+":admin"),
		"key for another one": apiKey(issuer, "elsewhere:admin"),
	} {
		if err := describe(keyFile); err == nil {
			t.Errorf("%s: allowed, want refused", name)
		}
	}
}
