// Package oidctest starts a real OpenID Connect provider for tests:
// zitadel's, with its example in-memory storage, serving the device flow
// to two confidential clients, "sluice" and "other" (secrets
// "sluice-secret" and "other-secret"). Its people are alice and mallory.
package oidctest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client secrets of the provider's two clients.
const (
	SluiceSecret = "sluice-secret"
	OtherSecret  = "other-secret"
)

// people is the provider's user store.
type people struct{}

func (people) GetUserByID(id string) *storage.User { return people{}.GetUserByUsername(id) }
func (people) ExampleClientID() string             { return "service" }
func (people) GetUserByUsername(name string) *storage.User {
	if name != "alice" && name != "mallory" {
		return nil
	}
	return &storage.User{ID: name, Username: name, Email: name + "@example.com", EmailVerified: true}
}

// Provider is a running provider; URL is its issuer.
type Provider struct {
	URL     string
	storage *storage.Storage
}

// Start serves a provider on loopback until the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	st := storage.NewStorageWithClients(people{}, map[string]*storage.Client{
		"sluice": storage.DeviceClient("sluice", SluiceSecret),
		"other":  storage.DeviceClient("other", OtherSecret),
	})
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	key := [32]byte{1, 2, 3}
	p, err := op.NewProvider(&op.Config{
		CryptoKey: key, CodeMethodS256: true,
		DeviceAuthorization: op.DeviceAuthorizationConfig{Lifetime: 5 * time.Minute, PollInterval: time.Second, UserFormPath: "/device", UserCode: op.UserCodeBase20},
	}, st, op.StaticIssuer(srv.URL), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", p)
	return &Provider{URL: srv.URL, storage: st}
}

// Approve plays person entering userCode at the provider's device page and
// signing in.
func (p *Provider) Approve(userCode, person string) error {
	return p.storage.CompleteDeviceAuthorization(context.Background(), userCode, person)
}

// IDToken signs person in with the device flow as client (the test plays
// the person approving the code) and returns the ID token the provider
// issues.
func (p *Provider) IDToken(t testing.TB, client, secret, person string) string {
	t.Helper()
	post := func(path string, form url.Values) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return out
	}
	auth := post("/device_authorization", url.Values{"scope": {"openid profile email"}})
	if err := p.Approve(auth["user_code"].(string), person); err != nil {
		t.Fatal(err)
	}
	tok := post("/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {auth["device_code"].(string)}})
	raw, _ := tok["id_token"].(string)
	if strings.Count(raw, ".") != 2 {
		t.Fatalf("no ID token: %v", tok)
	}
	return raw
}
