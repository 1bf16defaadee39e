package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Baked images are an index of the image itself and BuildKit's attestation
// manifest, which holds the SLSA provenance of the build (mode=max: every
// step, input and build argument) as an in-toto statement.
const (
	annotationRefType   = "vnd.docker.reference.type"
	annotationRefDigest = "vnd.docker.reference.digest"
	annotationPredicate = "in-toto.io/predicate-type"
)

// Provenance is an image's attestation as BuildKit attached it.
type Provenance struct {
	// Image is the digest of the image manifest the index holds: the same
	// for the same build, while the index's digest changes with each
	// build's provenance (its timestamps).
	Image string
	// PredicateType names the provenance format (https://slsa.dev/provenance/…).
	PredicateType string
	// Statement is the in-toto statement.
	Statement json.RawMessage
}

// ReadProvenance reads the provenance attached to repository@digest (an
// index BuildKit pushed).
func ReadProvenance(ctx context.Context, repository, digest string) (Provenance, error) {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return Provenance{}, err
	}
	idx, err := remote.Index(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return Provenance{}, fmt.Errorf("%s is not an image index with attestations: %w", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Provenance{}, err
	}
	var out Provenance
	var att *v1.Descriptor
	for i, m := range im.Manifests {
		if m.Annotations[annotationRefType] == "attestation-manifest" {
			att = &im.Manifests[i]
		} else if out.Image == "" {
			out.Image = m.Digest.String()
		}
	}
	if att == nil {
		return out, fmt.Errorf("%s has no attestation manifest", ref)
	}
	img, err := idx.Image(att.Digest)
	if err != nil {
		return out, err
	}
	m, err := img.Manifest()
	if err != nil {
		return out, err
	}
	for _, l := range m.Layers {
		pt := l.Annotations[annotationPredicate]
		if pt == "" {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return out, err
		}
		rc, err := layer.Uncompressed()
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(io.LimitReader(rc, 8<<20))
		rc.Close()
		if err != nil {
			return out, err
		}
		out.PredicateType, out.Statement = pt, body
		return out, nil
	}
	return out, fmt.Errorf("%s: the attestation manifest holds no in-toto statement", ref)
}
