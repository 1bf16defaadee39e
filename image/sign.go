package image

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Images are signed the way cosign signs them (a simple-signing payload
// naming the digest, an ECDSA P-256 signature, stored in the registry as
// the sha256-<digest>.sig tag), so `cosign verify --key` and admission
// controllers that speak cosign accept them. There is no transparency log
// here: signatures are checked against the key alone.

// AnnotationCommit is the signed annotation naming the commit an image was
// built from; a verifier that expects a commit refuses any other.
const AnnotationCommit = "dev.sluice.commit"

// ErrUntrusted: an image is not signed by the expected key, or not for the
// expected commit. Nothing about it should run.
var ErrUntrusted = errors.New("untrusted image")

// GenerateKeys makes a cosign key pair: the private key encrypted with
// password (PEM, "ENCRYPTED SIGSTORE PRIVATE KEY") and the public key.
func GenerateKeys(password []byte) (private, public []byte, err error) {
	keys, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return nil, nil, err
	}
	return keys.PrivateBytes, keys.PublicBytes, nil
}

// EnsureKeys loads the key pair at privPath (and privPath's ".pub"), making
// it when neither exists. The private key is written 0600. Processes that
// start together on one data dir (workers) agree on one pair: the first to
// put its private key in place wins, the others load it.
func EnsureKeys(privPath string, password []byte) (*Signer, error) {
	pubPath := PublicKeyPath(privPath)
	priv, err := os.ReadFile(privPath)
	if errors.Is(err, os.ErrNotExist) {
		pub, perr := os.ReadFile(pubPath)
		if perr == nil && len(pub) > 0 {
			return nil, fmt.Errorf("signing key %s is missing but its public key %s exists: restore the key rather than make a new one", privPath, pubPath)
		}
		if priv, err = makeKeys(privPath, password); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return LoadSigner(priv, password)
}

// makeKeys writes a new pair unless another process got there first, and
// returns the private key in place.
func makeKeys(privPath string, password []byte) ([]byte, error) {
	priv, pub, err := GenerateKeys(password)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(privPath)
	privTmp, err := writeTemp(dir, priv, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(privTmp)
	// a hard link appears whole and fails when the name exists
	if err := os.Link(privTmp, privPath); errors.Is(err, os.ErrExist) {
		return os.ReadFile(privPath)
	} else if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", privPath, err)
	}
	pubTmp, err := writeTemp(dir, pub, 0o644)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(pubTmp, PublicKeyPath(privPath)); err != nil {
		os.Remove(pubTmp)
		return nil, err
	}
	return priv, nil
}

func writeTemp(dir string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, ".signing-key-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// PublicKeyPath is where the public key of a private key file is kept.
func PublicKeyPath(privPath string) string { return privPath + ".pub" }

// Signer signs image digests.
type Signer struct {
	sv signature.SignerVerifier
}

// LoadSigner reads an encrypted cosign private key.
func LoadSigner(privPEM, password []byte) (*Signer, error) {
	sv, err := cosign.LoadPrivateKey(privPEM, password, nil)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w (is the password right?)", err)
	}
	return &Signer{sv: sv}, nil
}

// Verifier returns the verifier of the signer's own key.
func (s *Signer) Verifier() *Verifier { return &Verifier{v: s.sv} }

// Sign signs repository@digest with the commit it was built from and
// pushes the signature next to the image. Signing again adds nothing new.
func (s *Signer) Sign(ctx context.Context, repository, digest, commit string) error {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return err
	}
	body, err := (&payload.Cosign{Image: ref, Annotations: map[string]any{AnnotationCommit: commit}}).MarshalJSON()
	if err != nil {
		return err
	}
	raw, err := s.sv.SignMessage(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sign %s: %w", ref, err)
	}
	sig, err := static.NewSignature(body, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return err
	}
	opts := remoteOptions(ctx)
	se, err := ociremote.SignedEntity(ref, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	signed, err := mutate.AttachSignatureToEntity(se, sig, mutate.WithDupeDetector(cremote.NewDupeDetector(s.sv)))
	if err != nil {
		return err
	}
	if err := ociremote.WriteSignatures(ref.Context(), signed, opts...); err != nil {
		return fmt.Errorf("push the signature of %s: %w", ref, err)
	}
	return nil
}

// Verifier checks image signatures against one public key.
type Verifier struct {
	v signature.Verifier
}

// LoadVerifier reads a PEM public key (cosign's .pub).
func LoadVerifier(pubPEM []byte) (*Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &Verifier{v: v}, nil
}

// Verify checks that repository@digest carries a signature by the key for
// commit (any commit when commit is empty) and returns the signed commit.
// An unsigned image, another key's signature or another commit's is
// ErrUntrusted.
func (v *Verifier) Verify(ctx context.Context, repository, digest, commit string) (string, error) {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return "", err
	}
	sigs, _, err := cosign.VerifyImageSignatures(ctx, ref, &cosign.CheckOpts{
		SigVerifier: v.v, IgnoreTlog: true, IgnoreSCT: true,
		RegistryClientOpts: remoteOptions(ctx),
	})
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrUntrusted, ref, err) //nolint:errorlint // only ErrUntrusted classifies it: the cause is text
	}
	var seen []string
	for _, s := range sigs {
		body, err := s.Payload()
		if err != nil {
			continue
		}
		var p payload.SimpleContainerImage
		if json.Unmarshal(body, &p) != nil {
			continue
		}
		got, _ := p.Optional[AnnotationCommit].(string)
		if commit == "" || got == commit {
			return got, nil
		}
		seen = append(seen, got)
	}
	return "", fmt.Errorf("%w: %s is signed for commit %v, not %s", ErrUntrusted, ref, seen, commit)
}

func digestRef(repository, digest string) (name.Digest, error) {
	var opts []name.Option
	if Insecure(repository) {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewDigest(repository+"@"+digest, opts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image %s@%s: %w", repository, digest, err)
	}
	return ref, nil
}

// remoteOptions are the registry options of cosign's calls: the caller's
// context (cancellation) and the worker's Docker credentials; plain HTTP
// only where Insecure allows it (the references carry that).
func remoteOptions(ctx context.Context) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))}
}

// LoadVerifierFile reads a PEM public key file.
func LoadVerifierFile(path string) (*Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return LoadVerifier(b)
}
