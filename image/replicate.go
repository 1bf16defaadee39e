package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Replicate copies repository@digest to dst, another registry's
// repository, the way Harbor's replication does: the image index with
// every manifest it holds (the image and BuildKit's attestations, so the
// provenance travels), the cosign signature and attestations (the SBOM),
// then tags it there.
// Copying again is harmless.
func Replicate(ctx context.Context, repository, digest, dst string, tags ...string) error {
	src, err := digestRef(repository, digest)
	if err != nil {
		return err
	}
	to, err := digestRef(dst, digest)
	if err != nil {
		return err
	}
	// one layer at a time: go-containerregistry's writer replaces its HTTP
	// client when it widens its token's scopes while other layers upload
	// through it (a data race the race detector reports)
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithJobs(1)}
	desc, err := remote.Get(src, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		err = remote.WriteIndex(to, idx, opts...)
		if err != nil {
			return fmt.Errorf("replicate %s to %s: %w", src, to, err)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return err
		}
		if err := remote.Write(to, img, opts...); err != nil {
			return fmt.Errorf("replicate %s to %s: %w", src, to, err)
		}
	}
	// the signature (.sig) and the attestations (.att: the SBOM)
	for _, suffix := range []string{".sig", ".att"} {
		tag := "sha256-" + strings.TrimPrefix(digest, "sha256:") + suffix
		img, err := remote.Image(src.Context().Tag(tag), opts...)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s of %s: %w", tag, src, err)
		}
		if err := remote.Write(to.Context().Tag(tag), img, opts...); err != nil {
			return fmt.Errorf("replicate %s of %s: %w", tag, src, err)
		}
	}
	for _, t := range tags {
		if err := remote.Tag(to.Context().Tag(t), desc, opts...); err != nil {
			return fmt.Errorf("tag %s as %s: %w", to, t, err)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
