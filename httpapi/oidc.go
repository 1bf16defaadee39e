package httpapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/sluice-cd/sluice/config"
)

// OIDC accepts ID tokens of one OpenID Connect provider as API
// credentials: go-oidc verifies each against the keys the provider
// publishes (fetched and refreshed from its discovery document), its issuer,
// the audience and the expiry; the token's claim must name a configured
// user.
type OIDC struct {
	verifier *oidc.IDTokenVerifier
	claim    string
	users    map[string]config.OIDCUser
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
