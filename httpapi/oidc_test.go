package httpapi

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/policy"
	"github.com/sluice-cd/sluice/testenv/oidctest"
)

// TestOIDCTokens: an ID token of the configured provider, issued for
// Sluice, names a configured user and acts with their roles; an expired
// one, one issued for another client, one from another issuer, an unsigned
// one and one of a person the server does not know are refused (401).
func TestOIDCTokens(t *testing.T) {
	idp, elsewhere := oidctest.Start(t), oidctest.Start(t)
	cfg := &config.Config{
		Repositories: []config.Repository{{Name: "acme/pay", Provider: config.GitHub, CloneURL: t.TempDir()}},
		Projects:     []policy.Project{{Name: "payments", Repositories: []string{"acme/pay"}}},
		OIDC: &config.OIDC{Issuer: idp.URL, ClientID: "sluice", Claim: "sub", Users: map[string]config.OIDCUser{
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
	alice := idp.IDToken(t, "sluice", oidctest.SluiceSecret, "alice")
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
		{"issued for another client", idp.IDToken(t, "other", oidctest.OtherSecret, "alice"), "audience", 0},
		// signed with the other provider's keys: refused before its issuer is read
		{"another issuer", elsewhere.IDToken(t, "sluice", oidctest.SluiceSecret, "alice"), "signature", 0},
		{"unsigned", unsigned(alice), "", 0},
		{"a person the server does not know", idp.IDToken(t, "sluice", oidctest.SluiceSecret, "mallory"), "not a user of this server", 0},
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
