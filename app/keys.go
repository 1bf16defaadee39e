package app

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"

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
	password := []byte(os.Getenv("SLUICE_SIGNING_PASSWORD"))
	if f := a.opts.SigningPasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--signing-password-file: %w", err)
		}
		password = bytes.TrimRight(b, "\r\n")
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

// decisionKey loads the key with which the server vouches for approvers
// (see runs.LoadDecisionKey).
func (a *App) decisionKey() (ed25519.PrivateKey, error) {
	path := a.opts.DecisionKey
	if path == "" {
		path = filepath.Join(a.dir, "decision-key")
	}
	return runs.LoadDecisionKey(path)
}
