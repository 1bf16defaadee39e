package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/policy"
)

// people is the provider's user store: alice and mallory.
type people struct{}

func (people) GetUserByID(id string) *storage.User { return people{}.GetUserByUsername(id) }
func (people) ExampleClientID() string             { return "service" }
func (people) GetUserByUsername(name string) *storage.User {
	if name != "alice" && name != "mallory" {
		return nil
	}
	return &storage.User{ID: name, Username: name, Email: name + "@example.com", EmailVerified: true}
}

// provider is a real OpenID Connect provider (zitadel's, with its example
// in-memory storage) serving the device flow to two clients, sluice and
// other.
type provider struct {
	url     string
	storage *storage.Storage
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	st := storage.NewStorageWithClients(people{}, map[string]*storage.Client{
		"sluice": storage.DeviceClient("sluice", "sluice-secret"),
		"other":  storage.DeviceClient("other", "other-secret"),
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
	return &provider{url: srv.URL, storage: st}
}

// idToken signs person in with the device flow as client (the test plays
// the person approving the code) and returns the ID token the provider
// issues.
func (p *provider) idToken(t *testing.T, client, secret, person string) string {
	t.Helper()
	post := func(path string, form url.Values) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader(form.Encode()))
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
	if err := p.storage.CompleteDeviceAuthorization(context.Background(), auth["user_code"].(string), person); err != nil {
		t.Fatal(err)
	}
	tok := post("/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {auth["device_code"].(string)}})
	raw, _ := tok["id_token"].(string)
	if strings.Count(raw, ".") != 2 {
		t.Fatalf("no ID token: %v", tok)
	}
	return raw
}

// TestOIDCTokens: an ID token of the configured provider, issued for
// Sluice, names a configured user and acts with their roles; an expired
// one, one issued for another client, one from another issuer, an unsigned
// one and one of a person the server does not know are refused (401).
func TestOIDCTokens(t *testing.T) {
	idp, elsewhere := startProvider(t), startProvider(t)
	cfg := &config.Config{
		Repositories: []config.Repository{{Name: "acme/pay", Provider: config.GitHub, CloneURL: t.TempDir()}},
		Projects:     []policy.Project{{Name: "payments", Repositories: []string{"acme/pay"}}},
		OIDC: &config.OIDC{Issuer: idp.url, ClientID: "sluice", Claim: "sub", Users: map[string]config.OIDCUser{
			"alice": {User: "alice", Roles: access.Grants{"payments": {access.Viewer}}},
		}},
	}
	var clock time.Duration
	o, err := NewOIDC(context.Background(), cfg.OIDC, func() time.Time { return time.Now().Add(clock) })
	if err != nil {
		t.Fatal(err)
	}
	s := New(nil, nil, slog.New(slog.DiscardHandler))
	s.Config, s.OIDC = cfg, o
	srv := httptest.NewServer(s)
	defer srv.Close()
	// a run asked for by alice: authenticated, then refused for her role
	// (a viewer), before anything else is looked at
	ask := func(token string) (int, string) {
		return post(t, srv.URL+"/api/v1/runs", token, `{"repo":"acme/pay","branch":"main"}`)
	}
	alice := idp.idToken(t, "sluice", "sluice-secret", "alice")
	if code, body := ask(alice); code != http.StatusForbidden || !strings.Contains(body, `token "oidc:alice" has no role that may run in project payments`) {
		t.Fatalf("alice's token: %d %s", code, body)
	}
	unsigned := func(raw string) string {
		parts := strings.Split(raw, ".")
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		return header + "." + parts[1] + "."
	}
	for _, c := range []struct {
		name, token, want string
		clock             time.Duration
	}{
		{"expired", alice, "expired", 2 * time.Hour},
		{"issued for another client", idp.idToken(t, "other", "other-secret", "alice"), "audience", 0},
		// signed with the other provider's keys: refused before its issuer is read
		{"another issuer", elsewhere.idToken(t, "sluice", "sluice-secret", "alice"), "signature", 0},
		{"unsigned", unsigned(alice), "", 0},
		{"a person the server does not know", idp.idToken(t, "sluice", "sluice-secret", "mallory"), "not a user of this server", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock = c.clock
			defer func() { clock = 0 }()
			code, body := ask(c.token)
			if code != http.StatusUnauthorized || !strings.Contains(body, "ID token refused") || !strings.Contains(body, c.want) {
				t.Fatalf("%d %s, want 401 with %q", code, body, c.want)
			}
		})
	}
}
