package image

import (
	"context"
	"errors"
	"net/http"

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
	data, err := pullLayer(ctx, ref, cacheLayerType, limit, "the cache")
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil, ErrNoCache
	}
	return data, err
}
