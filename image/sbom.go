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
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// An image's SBOM is SPDX 2.3 JSON listing the packages of its operating
// system (read from dpkg's and apk's databases, see ospackages.go) and the
// Go programs in it with the modules each was built from (read from their
// embedded build information, as `go version -m` does), from the image's
// final filesystem; it is attached as a signed in-toto attestation the way
// `cosign attest --type spdxjson` attaches one.
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

// GenerateSBOM reads the filesystem of repository@digest (the image for
// this machine's platform when digest names an index), every layer
// applied, and lists the operating system's installed packages and the Go
// programs with their modules.
func GenerateSBOM(ctx context.Context, repository, digest string) (SBOM, error) {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return SBOM{}, err
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return SBOM{}, fmt.Errorf("read %s: %w", ref, err)
	}
	doc := SBOM{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name: ref.String(), DocumentNamespace: "https://sluice.dev/spdx/" + strings.TrimPrefix(digest, "sha256:"),
		CreationInfo: spdxCreation{Created: time.Now().UTC().Format(time.RFC3339), Creators: []string{"Tool: sluice"}},
	}
	seen := map[string]bool{}
	add := func(name, version, comment, purl string) {
		key := purl
		if key == "" {
			key = name + "@" + version
		}
		if seen[key] {
			return
		}
		seen[key] = true
		p := SBOMPackage{Name: name, SPDXID: fmt.Sprintf("SPDXRef-Package-%d", len(doc.Packages)+1), VersionInfo: version,
			DownloadLocation: "NOASSERTION", Comment: comment}
		if purl != "" {
			p.ExternalRefs = []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl}}
		}
		doc.Packages = append(doc.Packages, p)
	}
	fs := mutate.Extract(img) // the final filesystem: whiteouts applied
	defer fs.Close()
	found, err := scanFilesystem(fs)
	if err != nil {
		return SBOM{}, fmt.Errorf("read the filesystem of %s: %w", ref, err)
	}
	rel := osReleaseOf(found.osRelease)
	for _, db := range sortedDBs(found.packageDBs) {
		for _, p := range parsePackageDB(db, found.packageDBs[db]) {
			what := map[string]string{"deb": "Debian package", "apk": "Alpine package"}[p.kind]
			add(p.name, p.version, what+" (/"+p.database+")", p.purl(rel))
		}
	}
	for _, g := range found.goPrograms {
		bi := g.info
		add(bi.Main.Path, bi.Main.Version, "Go program /"+g.path, goPurl(bi.Main.Path, bi.Main.Version))
		add("stdlib", strings.TrimPrefix(bi.GoVersion, "go"), "the Go standard library of /"+g.path, "")
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			add(d.Path, d.Version, "a module of /"+g.path, goPurl(d.Path, d.Version))
		}
	}
	return doc, nil
}

func goPurl(path, version string) string {
	if version == "" {
		return ""
	}
	return "pkg:golang/" + path + "@" + version
}

// filesystemFindings is what an SBOM is made from.
type filesystemFindings struct {
	packageDBs, osRelease map[string][]byte
	goPrograms            []goProgram
}

type goProgram struct {
	path string
	info *buildinfo.BuildInfo
}

// scanFilesystem reads a flattened image filesystem (a tar stream) once:
// package databases, os-release and Go programs.
func scanFilesystem(r io.Reader) (filesystemFindings, error) {
	found := filesystemFindings{packageDBs: map[string][]byte{}, osRelease: map[string][]byte{}}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return found, nil
		}
		if err != nil {
			return found, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := cleanName(h.Name)
		switch {
		case isPackageDB(name) || isOSRelease(name):
			if h.Size > maxPackageDB {
				return found, fmt.Errorf("/%s is over %d MiB", name, maxPackageDB>>20)
			}
			b, err := io.ReadAll(io.LimitReader(tr, maxPackageDB))
			if err != nil {
				return found, err
			}
			if isOSRelease(name) {
				found.osRelease[name] = b
			} else {
				found.packageDBs[name] = b
			}
		case h.Size >= 4 && h.Size <= maxBinary && h.Mode&0o111 != 0:
			b, err := io.ReadAll(io.LimitReader(tr, maxBinary))
			if err != nil {
				return found, err
			}
			if !bytes.HasPrefix(b, []byte("\x7fELF")) {
				continue
			}
			if bi, err := buildinfo.Read(bytes.NewReader(b)); err == nil {
				found.goPrograms = append(found.goPrograms, goProgram{path: name, info: bi})
			}
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
// sha256-<digest>.att tag next to the image, in place of an SPDX SBOM
// attested before.
func (s *Signer) AttestSBOM(ctx context.Context, repository, digest string, doc SBOM) error {
	return s.attest(ctx, repository, digest, PredicateSPDX, doc)
}

// VerifiedSBOM returns the SBOM attested for repository@digest with the
// verifier's key; none, or one signed by another key, is ErrUntrusted.
func (v *Verifier) VerifiedSBOM(ctx context.Context, repository, digest string) (SBOM, error) {
	var doc SBOM
	if err := v.verifiedPredicate(ctx, repository, digest, PredicateSPDX, &doc); err != nil {
		return SBOM{}, err
	}
	return doc, nil
}
