package gitsrctest

import (
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Server serves repositories over Git's smart HTTP protocol with the real
// `git http-backend`, as a Git host does, and counts what it sends.
type Server struct {
	// URL is the base: the repository at Root/NAME is URL/NAME.
	URL  string
	sent atomic.Int64
}

// Sent is how many response bytes the server has written.
func (s *Server) Sent() int64 { return s.sent.Load() }

// Serve serves the repositories under root on loopback until the test
// ends. It needs the git binary (CI installs it).
func Serve(t testing.TB, root string) *Server { return ServeOn(t, root, "127.0.0.1:0") }

// ServeOn is Serve on addr (host:port; port 0 picks one), for clients on
// other hosts or in pods.
func ServeOn(t testing.TB, root, addr string) *Server {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git http-backend needs the git binary: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	s := &Server{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backend.ServeHTTP(&counting{ResponseWriter: w, n: &s.sent}, r)
	}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("git server on %s: %v", addr, err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

type counting struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *counting) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}
