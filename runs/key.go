package runs

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadDecisionKey reads the server's decision signing key (an ed25519 seed)
// from path, creating it (0600) when it does not exist. The server signs
// decisions with it; workers hand its public half to approval gates. A
// server and workers on different machines share the file.
func LoadDecisionKey(path string) (ed25519.PrivateKey, error) {
	seed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed = make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadDecisionKey(path) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("decision key: %w", err)
		}
		_, werr := f.Write(seed)
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, fmt.Errorf("decision key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("decision key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("decision key %s: want %d bytes, got %d (delete it to make a new one)", path, ed25519.SeedSize, len(seed))
	}
	// (a Kubernetes Secret volume gives its files to the pod's fsGroup:
	// the group may read, every other user may not)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("decision key %s is readable by every user (%#o): chmod 600 it", path, fi.Mode().Perm())
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
