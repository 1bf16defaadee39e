package image

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
)

// An image's SBOM is SPDX 2.3 JSON listing the Go programs in it and the
// modules each was built from (read from their embedded build information,
// as `go version -m` does), attached as a signed in-toto attestation the
// way `cosign attest --type spdxjson` attaches one.
const PredicateSPDX = "https://spdx.dev/Document"

// maxBinary bounds the files read while looking for Go programs.
const maxBinary = 256 << 20

// SBOM is the part of an SPDX document Sluice writes and reads.
type SBOM struct {
	SPDXVersion       string        `json:"spdxVersion"`
	DataLicense       string        `json:"dataLicense"`
	SPDXID            string        `json:"SPDXID"`
	Name              string        `json:"name"`
	DocumentNamespace string        `json:"documentNamespace"`
	CreationInfo      spdxCreation  `json:"creationInfo"`
	Packages          []SBOMPackage `json:"packages"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

// SBOMPackage is one program or module.
type SBOMPackage struct {
	Name             string    `json:"name"`
	SPDXID           string    `json:"SPDXID"`
	VersionInfo      string    `json:"versionInfo,omitempty"`
	DownloadLocation string    `json:"downloadLocation"`
	Comment          string    `json:"comment,omitempty"`
	ExternalRefs     []spdxRef `json:"externalRefs,omitempty"`
}

type spdxRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

// GenerateSBOM reads every layer of repository@digest (the image for this
// machine's platform when digest names an index) and lists the Go programs
// it finds with their modules.
func GenerateSBOM(ctx context.Context, repository, digest string) (SBOM, error) {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return SBOM{}, err
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return SBOM{}, fmt.Errorf("read %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return SBOM{}, err
	}
	doc := SBOM{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name: ref.String(), DocumentNamespace: "https://sluice.dev/spdx/" + strings.TrimPrefix(digest, "sha256:"),
		CreationInfo: spdxCreation{Created: time.Now().UTC().Format(time.RFC3339), Creators: []string{"Tool: sluice"}},
	}
	seen := map[string]bool{}
	add := func(name, version, comment string) {
		key := name + "@" + version
		if seen[key] {
			return
		}
		seen[key] = true
		p := SBOMPackage{Name: name, SPDXID: fmt.Sprintf("SPDXRef-Package-%d", len(doc.Packages)+1), VersionInfo: version,
			DownloadLocation: "NOASSERTION", Comment: comment}
		if version != "" && name != "stdlib" {
			p.ExternalRefs = []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + name + "@" + version}}
		}
		doc.Packages = append(doc.Packages, p)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return SBOM{}, err
		}
		err = goPrograms(rc, func(path string, bi *buildinfo.BuildInfo) {
			add(bi.Main.Path, bi.Main.Version, "Go program /"+path)
			add("stdlib", strings.TrimPrefix(bi.GoVersion, "go"), "the Go standard library of /"+path)
			for _, d := range bi.Deps {
				if d.Replace != nil {
					d = d.Replace
				}
				add(d.Path, d.Version, "a module of /"+path)
			}
		})
		rc.Close()
		if err != nil {
			return SBOM{}, err
		}
	}
	return doc, nil
}

// goPrograms calls fn for every Go program in a layer's tar stream.
func goPrograms(r io.Reader, fn func(path string, bi *buildinfo.BuildInfo)) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg || h.Size < 4 || h.Size > maxBinary || h.Mode&0o111 == 0 {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxBinary))
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(b, []byte("\x7fELF")) {
			continue
		}
		if bi, err := buildinfo.Read(bytes.NewReader(b)); err == nil {
			fn(strings.TrimPrefix(h.Name, "./"), bi)
		}
	}
}

// statement is an in-toto statement about one image.
type statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// AttestSBOM attaches doc to repository@digest as an in-toto statement in
// a DSSE envelope signed with the signer's key, stored as the
// sha256-<digest>.att tag next to the image.
func (s *Signer) AttestSBOM(ctx context.Context, repository, digest string, doc SBOM) error {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return err
	}
	pred, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	body, err := json.Marshal(statement{
		Type: "https://in-toto.io/Statement/v0.1", PredicateType: PredicateSPDX, Predicate: pred,
		Subject: []subject{{Name: ref.Context().String(), Digest: map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}}},
	})
	if err != nil {
		return err
	}
	envelope, err := dsse.WrapSigner(s.sv, types.IntotoPayloadType).SignMessage(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sign the SBOM of %s: %w", ref, err)
	}
	att, err := static.NewAttestation(envelope, static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": PredicateSPDX}))
	if err != nil {
		return err
	}
	opts := remoteOptions(ctx)
	se, err := ociremote.SignedEntity(ref, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", ref, err)
	}
	attested, err := mutate.AttachAttestationToEntity(se, att)
	if err != nil {
		return err
	}
	if err := ociremote.WriteAttestations(ref.Context(), attested, opts...); err != nil {
		return fmt.Errorf("push the SBOM of %s: %w", ref, err)
	}
	return nil
}

// VerifiedSBOM returns the SBOM attested for repository@digest with the
// verifier's key; none, or one signed by another key, is ErrUntrusted.
func (v *Verifier) VerifiedSBOM(ctx context.Context, repository, digest string) (SBOM, error) {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return SBOM{}, err
	}
	atts, _, err := cosign.VerifyImageAttestations(ctx, ref, &cosign.CheckOpts{
		SigVerifier: v.v, IgnoreTlog: true, IgnoreSCT: true, RegistryClientOpts: remoteOptions(ctx),
	})
	if err != nil {
		return SBOM{}, fmt.Errorf("%w: the SBOM of %s: %v", ErrUntrusted, ref, err)
	}
	for _, a := range atts {
		payload, err := a.Payload()
		if err != nil {
			continue
		}
		var env struct {
			Payload []byte `json:"payload"`
		}
		if json.Unmarshal(payload, &env) != nil {
			continue
		}
		var st statement
		if json.Unmarshal(env.Payload, &st) != nil || st.PredicateType != PredicateSPDX {
			continue
		}
		var doc SBOM
		if err := json.Unmarshal(st.Predicate, &doc); err == nil {
			return doc, nil
		}
	}
	return SBOM{}, fmt.Errorf("%w: %s has no SPDX attestation", ErrUntrusted, ref)
}
