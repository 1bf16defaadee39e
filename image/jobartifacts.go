package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A job's artifacts (`test.jobs.<job>.artifacts`) have the build
// artifacts' format — one tar layer of regular files at their workspace
// paths — so bake puts them into its context as it does the build's, and
// the jobs that need the job unpack them into their checkouts.

// PushJobArtifacts pushes the regular files of a tar (an executor's
// Archive; its directories are left out) as repository:tag and returns the
// artifact's digest.
func PushJobArtifacts(ctx context.Context, repository, tag string, tarball []byte) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: h.Name, Mode: h.Mode, Size: h.Size, Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := io.CopyN(tw, tr, h.Size); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return pushLayer(ctx, repository, tag, artifactConfigType, artifactLayerType, buf.Bytes(), "the job's artifacts")
}

// JobArtifacts is the tar of the artifact repository@digest, at most
// limit bytes.
func JobArtifacts(ctx context.Context, repository, digest string, limit int64) ([]byte, error) {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return nil, err
	}
	return pullLayer(ctx, ref, artifactLayerType, limit, "the artifacts")
}

// pullLayer returns the one layer of the artifact at ref, of layerType,
// at most limit bytes; what names it in errors.
func pullLayer(ctx context.Context, ref name.Reference, layerType types.MediaType, limit int64, what string) ([]byte, error) {
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return nil, fmt.Errorf("fetch %s %s: %w", what, ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("%s %s have %d layers, not one", what, ref, len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != layerType {
		return nil, fmt.Errorf("%s does not hold %s: its layer is %s", ref, what, mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%s %s are over %d bytes", what, ref, limit)
	}
	return buf.Bytes(), nil
}
