package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A job's cache (`test.jobs.<job>.cache`) is an OCI artifact of one tar
// layer, in the worker's registry, under a tag made of its key.
const (
	cacheConfigType = types.MediaType("application/vnd.sluice.cache.config.v1+json")
	cacheLayerType  = types.MediaType("application/vnd.sluice.cache.layer.v1.tar")
)

// ErrNoCache is a cache tag that is not there: a miss.
var ErrNoCache = errors.New("no cache under this key")

// PushCache pushes a tar as repository:tag and returns its digest.
func PushCache(ctx context.Context, repository, tag string, tarball []byte) (string, error) {
	return pushLayer(ctx, repository, tag, cacheConfigType, cacheLayerType, tarball, "the cache")
}

// PullCache returns the tar of repository:tag, at most limit bytes;
// ErrNoCache when the tag is not there.
func PullCache(ctx context.Context, repository, tag string, limit int64) ([]byte, error) {
	ref, err := tagRef(repository, tag)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil, ErrNoCache
	}
	if err != nil {
		return nil, fmt.Errorf("fetch the cache %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("cache %s has %d layers, not one", ref, len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != cacheLayerType {
		return nil, fmt.Errorf("%s is not a Sluice cache (layer %s)", ref, mt)
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
		return nil, fmt.Errorf("cache %s is over %d bytes", ref, limit)
	}
	return buf.Bytes(), nil
}
