package console

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits on what one browser can make the server do.
const (
	// maxStreams is how many run pages one session may follow at once:
	// each stream asks Temporal for the run's state every second.
	maxStreams = 8
	// signInFailures is how many refused sign-ins an address may make in
	// signInWindow before it must wait for the window to pass.
	signInFailures = 10
	signInWindow   = time.Minute
)

// failures counts refused sign-ins per client address.
type failures struct {
	mu  sync.Mutex
	m   map[string][]time.Time
	now func() time.Time
}

func newFailures() *failures { return &failures{m: map[string][]time.Time{}, now: time.Now} }

// clientAddr is r's remote host (a proxy in front of the server is one
// address for all; its own limits apply there).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recent returns addr's refusals within the window, forgetting older ones.
func (f *failures) recent(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	cut := f.now().Add(-signInWindow)
	kept := f.m[addr][:0]
	for _, t := range f.m[addr] {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(f.m, addr)
		return 0
	}
	f.m[addr] = kept
	return len(kept)
}

func (f *failures) add(addr string) {
	f.mu.Lock()
	f.m[addr] = append(f.m[addr], f.now())
	f.mu.Unlock()
}

// openStream counts a stream of ss, or says it has too many open.
func (s *sessions) openStream(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss.streams >= maxStreams {
		return false
	}
	ss.streams++
	return true
}

func (s *sessions) closeStream(ss *session) {
	s.mu.Lock()
	ss.streams--
	s.mu.Unlock()
}
