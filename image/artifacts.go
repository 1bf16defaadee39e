package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Build artifacts (`build.artifacts`) travel from the build phase, which may
// run in a pod on another machine, to bake as an OCI artifact in the bake
// repository: one tar layer of the files at their paths in the workspace.
const (
	artifactConfigType = types.MediaType("application/vnd.sluice.build-artifacts.config.v1+json")
	artifactLayerType  = types.MediaType("application/vnd.sluice.build-artifacts.layer.v1.tar")
)

// MaxArtifacts bounds what the artifacts of one build may hold.
const MaxArtifacts = 512 << 20

// ArtifactTag is the tag the build artifacts of a commit are pushed under.
func ArtifactTag(commit string) string { return "artifacts-" + commit }

// PushArtifacts packs files (slash-separated paths relative to the
// workspace, and their contents) into repository:tag and returns the
// artifact's digest.
func PushArtifacts(ctx context.Context, repository, tag string, files map[string][]byte) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return pushLayer(ctx, repository, tag, artifactConfigType, artifactLayerType, buf.Bytes(), "the build artifacts")
}

// pushLayer pushes an OCI artifact of one uncompressed layer as
// repository:tag and returns its digest; what names it in errors.
func pushLayer(ctx context.Context, repository, tag string, configType, layerType types.MediaType, layer []byte, what string) (string, error) {
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), configType),
		static.NewLayer(layer, layerType))
	if err != nil {
		return "", err
	}
	ref, err := tagRef(repository, tag)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("push %s to %s: %w", what, ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// FetchArtifacts unpacks the artifact repository@digest into dir, at the
// files' paths, and returns them. A path that would leave dir is refused.
func FetchArtifacts(ctx context.Context, repository, digest, dir string) ([]string, error) {
	ref, err := digestRef(repository, digest)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return nil, fmt.Errorf("fetch the build artifacts %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range layers {
		if mt, _ := l.MediaType(); mt != artifactLayerType {
			continue
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		got, err := untar(rc, dir)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func untar(r io.Reader, dir string) ([]string, error) {
	tr := tar.NewReader(r)
	var out []string
	total := int64(0)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(filepath.FromSlash(name)) {
			return nil, fmt.Errorf("build artifact %q is not a file inside the workspace", h.Name)
		}
		if total += h.Size; total > MaxArtifacts {
			return nil, fmt.Errorf("build artifacts are over %d MiB", MaxArtifacts>>20)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(f, io.LimitReader(tr, h.Size))
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, name)
	}
}

func tagRef(repository, tag string) (name.Tag, error) {
	var opts []name.Option
	if Insecure(repository) {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewTag(repository+":"+tag, opts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image %s:%s: %w", repository, tag, err)
	}
	return ref, nil
}
