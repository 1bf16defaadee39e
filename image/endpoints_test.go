package image

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRegistryEndpointKeepsTheName: images named after a registry address
// this process cannot reach (127.0.0.1:1, where nothing listens) are read
// and tagged through the endpoint it is mapped to, under their own name.
func TestRegistryEndpointKeepsTheName(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := crane.Push(img, addr+"/team/app:seed", crane.Insecure); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()

	const named = "127.0.0.1:1/team/app"
	if _, err := Digest(ctx, named, "seed"); err == nil {
		t.Fatal("reached 127.0.0.1:1 without an endpoint")
	}

	e, err := ParseEndpoints([]string{"127.0.0.1:1=" + addr})
	if err != nil {
		t.Fatal(err)
	}
	saved := remote.DefaultTransport
	t.Cleanup(func() { remote.DefaultTransport = saved })
	e.Use()

	got, err := Digest(ctx, named, "seed")
	if err != nil || got != want.String() {
		t.Fatalf("digest through the endpoint: %q, %v; want %s", got, err, want)
	}
	if err := Tag(ctx, named, got, "available"); err != nil {
		t.Fatal(err)
	}
	// the tag landed in the real registry
	if d, err := crane.Digest(addr+"/team/app:available", crane.Insecure); err != nil || d != want.String() {
		t.Fatalf("tag in the registry: %q, %v", d, err)
	}
}

func TestParseEndpointsRefusesMalformedPairs(t *testing.T) {
	for _, bad := range [][]string{
		{"127.0.0.1:5000"},              // no address
		{"127.0.0.1:5000=10.0.0.1"},     // no port
		{"http://r:5000=10.0.0.1:5000"}, // a URL, not host:port
		{"r:5000=a:1", "r:5000=b:2"},    // twice
		{"r:5000=user@10.0.0.1:5000"},   // credentials
	} {
		if _, err := ParseEndpoints(bad); err == nil || !strings.Contains(err.Error(), "registry endpoint") {
			t.Errorf("%q: %v, want an error naming the flag's form", bad, err)
		}
	}
	e, err := ParseEndpoints([]string{"127.0.0.1:5000=10.244.0.1:5000", "127.0.0.1:5001=10.244.0.1:5001"})
	if err != nil || len(e) != 2 || e["127.0.0.1:5001"] != "10.244.0.1:5001" {
		t.Fatalf("%v %v", e, err)
	}
}
