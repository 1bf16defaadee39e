package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/config"
)

// OIDC accepts ID tokens of one OpenID Connect provider as API
// credentials: go-oidc verifies each against the keys the provider
// publishes (fetched and refreshed from its discovery document), its issuer,
// the audience and the expiry; the token's claim must name a configured
// user.
type OIDC struct {
	// Issuer and ClientID are what `sluice login` signs in with.
	Issuer, ClientID string
	verifier         *oidc.IDTokenVerifier
	claim            string
	users            map[string]config.OIDCUser
}

// NewOIDC reads the provider's discovery document. now is the verifier's
// clock (nil: the time).
func NewOIDC(ctx context.Context, c *config.OIDC, now func() time.Time) (*OIDC, error) {
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, nil), c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc.issuer %s: %w (is the provider reachable from the server?)", c.Issuer, err)
	}
	claim := c.Claim
	if claim == "" {
		claim = "sub"
	}
	return &OIDC{
		Issuer: c.Issuer, ClientID: c.ClientID,
		verifier: provider.VerifierContext(context.WithoutCancel(ctx), &oidc.Config{ClientID: c.ClientID, Now: now}),
		claim:    claim, users: c.Users,
	}, nil
}

// client is who a raw ID token stands for.
func (o *OIDC) client(ctx context.Context, raw string) (Client, error) {
	tok, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return Client{}, err
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Client{}, err
	}
	name, _ := claims[o.claim].(string)
	if name == "" {
		return Client{}, fmt.Errorf("the token has no %s claim", o.claim)
	}
	u, ok := o.users[name]
	if !ok {
		return Client{}, errors.New(o.claim + " " + name + " is not a user of this server: an administrator adds them under oidc.users")
	}
	return Client{Name: "oidc:" + name, User: u.User, Roles: u.Roles, IDToken: true}, nil
}

// Login is how a CLI signs in to this server: the provider and the client
// its ID tokens must be issued for. Both are public.
type Login struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
}

// login answers GET /api/v1/login, unauthenticated: the provider `sluice
// login` runs the device flow against.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		http.Error(w, "this server takes API tokens only (no oidc in its configuration): ask an administrator for a token under api_tokens and pass it with --token", http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, Login{Issuer: s.OIDC.Issuer, ClientID: s.OIDC.ClientID})
}

// Identity is who a request's credential stands for, as GET /api/v1/whoami
// tells it.
type Identity struct {
	// Name is the token's name, or "oidc:<claim>" for an ID token.
	Name string `json:"name"`
	// User is the approver identity the credential proves ("" none).
	User string `json:"user,omitempty"`
	// Credential is "api-token" or "oidc".
	Credential string `json:"credential"`
	// Roles by project; Everything: every role everywhere (a single-user
	// dev server's token, or a server without projects).
	Roles      access.Grants `json:"roles,omitempty"`
	Everything bool          `json:"everything,omitempty"`
	// TrustAs: the credential names the deciding user itself (single-user
	// dev mode's token).
	TrustAs bool `json:"trust_as,omitempty"`
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	c := client(r)
	id := Identity{Name: c.Name, User: c.User, Credential: "api-token", Roles: c.Roles, Everything: c.Everything || !s.governed(), TrustAs: c.TrustAs}
	if c.IDToken {
		id.Credential = "oidc"
	}
	writeJSON(w, http.StatusOK, id)
}
