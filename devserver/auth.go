package devserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/labstack/echo/v4"
	uiapi "github.com/temporalio/ui-server/v2/server/api"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"google.golang.org/grpc/metadata"
)

// Auth turns on Temporal's authorization: every request to the frontend
// must carry a bearer token (an API key) that is a JWT signed by one of
// the keys named here, whose "permissions" claim grants
// "namespace:role" (read, write, worker, admin). A client without one
// is refused (PermissionDenied), whatever the request.
//
// The server's own services (history, matching, the system worker that
// runs Schedules) then speak to each other over mutual TLS with a CA made
// at start and held only in memory, and the system worker reaches an
// internal frontend that admits only that CA's certificate.
type Auth struct {
	// JWKSURL serves the signing keys as a JSON Web Key Set.
	JWKSURL string
	// Key is the public half of an ECDSA P-256 key whose ES256 tokens are
	// admitted (see SignAPIKey).
	Key *ecdsa.PublicKey
	// UIToken, when set, gives the Web UI a bearer token for every
	// request it forwards (a "read" key's, so the UI shows runs but cannot
	// change them). Without it the UI is refused like any client.
	UIToken func() (string, error)
}

// SignAPIKey makes an ES256 API key for subject that grants role
// (read, write, worker or admin) in namespace until ttl has passed.
func SignAPIKey(key *ecdsa.PrivateKey, subject, namespace, role string, ttl time.Duration) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": subject, "permissions": []string{namespace + ":" + role},
		"iat": time.Now().Unix(), "exp": time.Now().Add(ttl).Unix(),
	})
	tok.Header["kid"] = "sluice"
	return tok.SignedString(key)
}

// keyProvider hands Temporal's JWT claim mapper one ECDSA key.
type keyProvider struct{ key *ecdsa.PublicKey }

var _ authorization.TokenKeyProvider = keyProvider{}

func (k keyProvider) EcdsaKey(alg, _ string) (*ecdsa.PublicKey, error) {
	if alg != "ES256" {
		return nil, fmt.Errorf("algorithm %q: this server admits ES256 API keys only", alg)
	}
	return k.key, nil
}
func (keyProvider) HmacKey(string, string) ([]byte, error) {
	return nil, errors.New("this server admits ES256 API keys only")
}
func (keyProvider) RsaKey(string, string) (*rsa.PublicKey, error) {
	return nil, errors.New("this server admits ES256 API keys only")
}
func (keyProvider) SupportedMethods() []string { return []string{"ES256"} }
func (keyProvider) Close()                     {}

// authorize sets conf's authorization and internode TLS for a, and returns
// the claim mapper.
func authorize(conf *config.Config, a *Auth, ip string, logger log.Logger) (authorization.ClaimMapper, error) {
	if a.JWKSURL == "" && a.Key == nil {
		return nil, errors.New("authorization needs a JWKSURL or a Key")
	}
	conf.Global.Authorization = config.Authorization{
		PermissionsClaimName: "permissions",
		Authorizer:           "default",
		ClaimMapper:          "default",
	}
	var keys authorization.TokenKeyProvider = keyProvider{a.Key}
	if a.JWKSURL != "" {
		conf.Global.Authorization.JWTKeyProvider = config.JWTKeyProvider{KeySourceURIs: []string{a.JWKSURL}, RefreshInterval: time.Minute}
		keys = authorization.NewDefaultTokenKeyProvider(&conf.Global.Authorization, logger)
	}
	// The CA's key is dropped once it has signed: nothing else can get a
	// certificate of it.
	pair, err := issueCerts("sluice embedded Temporal internode CA", "temporal-internode", hostIPs(ip), []string{"temporal-internode"})
	if err != nil {
		return nil, err
	}
	enc := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	conf.Global.TLS.Internode = config.GroupTLS{
		Server: config.ServerTLS{CertData: enc(pair.cert), KeyData: enc(pair.key), ClientCAData: []string{enc(pair.ca)}, RequireClientAuth: true},
		Client: config.ClientTLS{ServerName: "temporal-internode", RootCAData: []string{enc(pair.ca)}},
	}
	return authorization.NewDefaultJWTClaimMapper(keys, &conf.Global.Authorization, logger), nil
}

// bearer makes the Web UI send token's value with each request it
// forwards to the frontend. A browser's own Authorization header is not
// forwarded under that name (the gateway prefixes it), so it cannot take
// the UI's place.
func bearer(token func() (string, error)) uiapi.Middleware {
	return func(echo.Context) runtime.ServeMuxOption {
		return runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
			t, err := token()
			if err != nil {
				return nil
			}
			return metadata.Pairs("authorization", "Bearer "+t)
		})
	}
}
