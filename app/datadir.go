package app

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sluice-cd/sluice/executor"
)

// prepareDataDir makes the data dir private to this user and returns its
// absolute path. It holds the Temporal database, workspaces, logs and the
// API token: nothing in it is for other users of the machine.
func prepareDataDir(dir, stepUser string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	syscall.Umask(0o077)
	// Steps run as the step user must pass through it to their workspace:
	// others may enter (x) but not list it; everything inside is 0600/0700.
	mode := os.FileMode(0o700)
	if u, err := executor.ParseStepUser(stepUser); err == nil && u != nil {
		mode = 0o711
	}
	if err := os.MkdirAll(abs, mode); err != nil {
		return "", fmt.Errorf("data dir %s: %w", abs, err)
	}
	if err := os.Chmod(abs, mode); err != nil {
		return "", fmt.Errorf("data dir %s: %w", abs, err)
	}
	return abs, nil
}

// DevTokenFile is where `sluice dev` keeps its API token in the data dir.
const DevTokenFile = "api-token"

// devToken returns the API token of a dev data dir, creating it once.
func devToken(dir string) (string, error) {
	file := filepath.Join(dir, DevTokenFile)
	if b, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := hex.EncodeToString(raw)
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write API token: %w", err)
	}
	return token, nil
}
