package app

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-cd/sluice/image"
	"github.com/sluice-cd/sluice/runs"
)

// imageSigner loads (or makes, on first use) the cosign key pair that signs
// baked images; its public key verifies them before promote, deploy and
// production. The password comes from SLUICE_SIGNING_PASSWORD or
// --signing-password-file, never from a flag's value.
func (a *App) imageSigner() (*image.Signer, error) {
	path := a.opts.SigningKey
	if path == "" {
		path = filepath.Join(a.dir, "signing.key")
	}
	password, err := a.signingPassword()
	if err != nil {
		return nil, err
	}
	signer, err := image.EnsureKeys(path, password)
	if err != nil {
		return nil, fmt.Errorf("image signing key %s: %w", path, err)
	}
	if len(password) == 0 {
		a.log.Warn("the image signing key is not protected by a password: set SLUICE_SIGNING_PASSWORD or --signing-password-file", "key", path)
	}
	return signer, nil
}

// signingPassword is the signing key's password: --signing-password-file's
// content, else SLUICE_SIGNING_PASSWORD.
func (a *App) signingPassword() ([]byte, error) {
	f := a.opts.SigningPasswordFile
	if f == "" {
		return []byte(os.Getenv("SLUICE_SIGNING_PASSWORD")), nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("--signing-password-file: %w", err)
	}
	return bytes.TrimRight(b, "\r\n"), nil
}

// serverSecrets are the environment's secrets: the signing password,
// Temporal's API key and database password, the records' database password.
var serverSecrets = []string{"SLUICE_SIGNING_PASSWORD", "SLUICE_TEMPORAL_API_KEY", "SLUICE_TEMPORAL_DB_PASSWORD", "SLUICE_RECORDS_DB_PASSWORD"}

// secrets are every secret value this process holds, for log redaction:
// the configuration's, the signing password (as the signer reads it) and
// the environment's. Like the configuration's, they are redacted from run
// logs, whatever a step prints.
func (a *App) secrets() []string {
	out := a.cfg.Secrets()
	if pw, err := a.signingPassword(); err == nil && len(pw) > 0 {
		out = append(out, string(pw))
	}
	for _, name := range serverSecrets {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// decisionKey loads the key with which the server vouches for approvers
// (see runs.LoadDecisionKey).
func (a *App) decisionKey() (ed25519.PrivateKey, error) {
	path := a.opts.DecisionKey
	if path == "" {
		path = filepath.Join(a.dir, "decision-key")
	}
	return runs.LoadDecisionKey(path)
}
