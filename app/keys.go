package app

import (
	"bytes"
	"crypto/ed25519"
	"errors"
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
		path = filepath.Join(a.dir, SigningKeyFile)
		a.warnIfNew(path, "images signed before can no longer be promoted, released or rolled back to")
	} else if err := mustExist(path, "--signing-key"); err != nil {
		return nil, err
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
func (a *App) signingPassword() ([]byte, error) { return SigningPassword(a.opts.SigningPasswordFile) }

// SigningPassword is the signing key's password: file's content, else
// SLUICE_SIGNING_PASSWORD.
func SigningPassword(f string) ([]byte, error) {
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
		path = filepath.Join(a.dir, DecisionKeyFile)
		a.warnIfNew(path, "workers with another key refuse this server's decisions")
	} else if err := mustExist(path, "--decision-key"); err != nil {
		return nil, err
	}
	return runs.LoadDecisionKey(path)
}

// The key files of a data dir, and of a directory `sluice keys init`
// fills.
const (
	SigningKeyFile  = "signing.key"
	DecisionKeyFile = "decision-key"
)

// mustExist refuses a key the operator named that is not there: a new one
// is never made in its place.
func mustExist(path, flag string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s %s does not exist: restore it, or make the installation's keys once with `sluice keys init DIR` (a new key would not verify what the old one signed)", flag, path)
	} else if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return nil
}

// warnIfNew says so when a data dir's key is about to be made: a data dir
// that lost its key (a pod's emptyDir) gets a new one.
func (a *App) warnIfNew(path, consequence string) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !a.opts.Dev {
		a.log.Warn("making a new key in the data dir; if this installation had one, "+consequence+" (name the installation's key with a flag: see `sluice keys init`)", "key", path)
	}
}

// InitKeys makes an installation's keys in dir: the cosign key pair that
// signs images (SigningKeyFile and its .pub, encrypted with password) and
// the decision key. It refuses to replace a key that is there. It returns
// the files it wrote.
func InitKeys(dir string, password []byte) ([]string, error) {
	signing, decision := filepath.Join(dir, SigningKeyFile), filepath.Join(dir, DecisionKeyFile)
	for _, p := range []string{signing, image.PublicKeyPath(signing), decision} {
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("%s exists: keys are made once (move it away to make a new set)", p)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := image.EnsureKeys(signing, password); err != nil {
		return nil, err
	}
	if _, err := runs.LoadDecisionKey(decision); err != nil {
		return nil, err
	}
	return []string{signing, image.PublicKeyPath(signing), decision}, nil
}
