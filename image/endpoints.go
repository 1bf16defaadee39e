package image

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Endpoints maps a registry, as image references name it (host:port), to
// the address this process reaches it at. Images keep their names — the
// nodes pull them by those — and only the connection goes elsewhere, like
// containerd's registry mirrors or curl's --connect-to: a worker in a pod
// reaches a registry the nodes know as 127.0.0.1:5000 at the node's
// address, and TLS still checks the certificate against the name.
type Endpoints map[string]string

// ParseEndpoints reads NAME=ADDRESS pairs (--registry-endpoint).
func ParseEndpoints(pairs []string) (Endpoints, error) {
	e := Endpoints{}
	for _, p := range pairs {
		name, addr, ok := strings.Cut(p, "=")
		if !ok || !hostPort(name) || !hostPort(addr) {
			return nil, fmt.Errorf("registry endpoint %q: write REGISTRY=HOST:PORT, like 127.0.0.1:5000=10.244.0.1:5000 (the registry as images name it, then where to connect)", p)
		}
		if _, dup := e[name]; dup {
			return nil, fmt.Errorf("registry endpoint %q: %s is mapped twice", p, name)
		}
		e[name] = addr
	}
	return e, nil
}

func hostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	return err == nil && h != "" && p != "" && !strings.ContainsAny(s, "/@ ")
}

// Transport is a copy of go-containerregistry's default transport that
// dials each mapped registry at its endpoint.
func (e Endpoints) Transport() http.RoundTripper {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := e[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// Use makes every registry request of this process (bake's reads, signing,
// attestations, tags, replicas, verification) go through e's Transport.
// Called once at start-up, before any request.
func (e Endpoints) Use() {
	if len(e) > 0 {
		remote.DefaultTransport = e.Transport()
	}
}
