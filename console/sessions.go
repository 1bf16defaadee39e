package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// cookieName is the session cookie. It holds only a random id: the token
// the user signed in with stays on the server.
const cookieName = "sluice_session"

// session is one signed-in browser.
type session struct {
	id string
	// token is the API token or ID token the user signed in with; every
	// page calls the API with it, so the API's checks apply unchanged.
	token string
	// name is who the API says the token is (for the header).
	name string
	// csrf is sent back with every form; a POST without it is refused.
	csrf    string
	expires time.Time
	// flash is a message shown once, on the next page.
	flash string
	// streams are the run pages it follows now.
	streams int
}

// sessions holds the signed-in sessions of this server process.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{m: map[string]*session{}, ttl: ttl, now: time.Now}
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for token and sets its cookie on w.
func (s *sessions) create(w http.ResponseWriter, token, name string) *session {
	ss := &session{id: randomID(), token: token, name: name, csrf: randomID(), expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	for id, old := range s.m { // forget the expired ones as new ones come
		if s.now().After(old.expires) {
			delete(s.m, id)
		}
	}
	s.m[ss.id] = ss
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: ss.id, Path: "/", MaxAge: int(s.ttl.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	return ss
}

// get returns r's session, or nil when it has none or it has expired.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[c.Value]
	if ss == nil {
		return nil
	}
	if s.now().After(ss.expires) {
		delete(s.m, c.Value)
		return nil
	}
	return ss
}

// end forgets ss and clears the cookie.
func (s *sessions) end(w http.ResponseWriter, ss *session) {
	if ss != nil {
		s.mu.Lock()
		delete(s.m, ss.id)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// takeFlash returns and clears ss's message.
func (s *sessions) takeFlash(ss *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := ss.flash
	ss.flash = ""
	return f
}

func (s *sessions) setFlash(ss *session, msg string) {
	s.mu.Lock()
	ss.flash = msg
	s.mu.Unlock()
}

// validCSRF tells whether the form carries ss's CSRF token.
func validCSRF(r *http.Request, ss *session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}
