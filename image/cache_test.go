package image

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// TestCacheRoundTrip: a missing tag is ErrNoCache (a miss, not a failure);
// what was pushed comes back; an image that is not a Sluice cache and a
// cache over the limit are refused.
func TestCacheRoundTrip(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/sluice-cache/acme/app"
	ctx := context.Background()
	if _, err := PullCache(ctx, repo, "unit-0123", 1<<20); !errors.Is(err, ErrNoCache) {
		t.Fatalf("missing tag: %v", err)
	}
	if _, err := PushCache(ctx, repo, "unit-0123", []byte("a tar")); err != nil {
		t.Fatal(err)
	}
	got, err := PullCache(ctx, repo, "unit-0123", 1<<20)
	if err != nil || string(got) != "a tar" {
		t.Fatalf("pulled %q %v", got, err)
	}
	if _, err := PullCache(ctx, repo, "unit-0123", 2); err == nil || !strings.Contains(err.Error(), "over 2 bytes") {
		t.Errorf("over the limit: %v", err)
	}
	img, _ := random.Image(64, 1)
	if err := crane.Push(img, repo+":planted", crane.Insecure); err != nil {
		t.Fatal(err)
	}
	if _, err := PullCache(ctx, repo, "planted", 1<<20); err == nil || !strings.Contains(err.Error(), "does not hold the cache") {
		t.Errorf("another image: %v", err)
	}
}
