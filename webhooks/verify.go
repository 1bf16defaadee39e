package webhooks

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v75/github"
)

// ErrUnauthorized is the (wrapped) error of every failed verification.
var ErrUnauthorized = errors.New("unauthorized")

func unauthorized(msg string) error { return &authError{msg} }

type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return ErrUnauthorized }

// VerifyGitHub checks X-Hub-Signature-256 (HMAC-SHA256 of the raw body).
// A request signed only with the legacy SHA-1 header is refused.
func VerifyGitHub(h http.Header, body []byte, secret string) error {
	sig := h.Get("X-Hub-Signature-256")
	if sig == "" {
		if h.Get("X-Hub-Signature") != "" {
			return unauthorized("only X-Hub-Signature (SHA-1) was sent; Sluice requires X-Hub-Signature-256")
		}
		return unauthorized("missing X-Hub-Signature-256: set a secret on the webhook")
	}
	if !strings.HasPrefix(sig, "sha256=") {
		return unauthorized("X-Hub-Signature-256 must start with sha256=")
	}
	if err := github.ValidateSignature(sig, body, []byte(secret)); err != nil {
		return unauthorized("signature does not match")
	}
	return nil
}

// VerifyGitLab compares X-Gitlab-Token with the secret in constant time.
func VerifyGitLab(h http.Header, _ []byte, secret string) error {
	tok := h.Get("X-Gitlab-Token")
	if tok == "" {
		return unauthorized("missing X-Gitlab-Token: set a secret token on the webhook")
	}
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return unauthorized("token does not match")
	}
	return nil
}

// VerifyGitea checks X-Gitea-Signature (hex HMAC-SHA256 of the raw body).
func VerifyGitea(h http.Header, body []byte, secret string) error {
	sig := h.Get("X-Gitea-Signature")
	if sig == "" {
		return unauthorized("missing X-Gitea-Signature: set a secret on the webhook")
	}
	if _, err := hex.DecodeString(sig); err != nil {
		return unauthorized("X-Gitea-Signature is not hex")
	}
	ok, err := gitea.VerifyWebhookSignature(secret, sig, body)
	if err != nil || !ok {
		return unauthorized("signature does not match")
	}
	return nil
}
