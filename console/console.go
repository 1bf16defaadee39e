// Package console is Sluice's web console: the runs, a run's phases with
// its live log and its approval, the environments with their releases and
// a rollback, and the delivery figures, served beside the API.
//
// The console is a client of the API in the same process. A user signs in
// with a credential the API accepts (an API token, or an OIDC ID token);
// it stays on the server, and every page and every action is an API call
// made with it. What a user sees and may do is therefore exactly what the
// API's role check gives their credential: the console has no
// authorization of its own to get wrong. Sessions are a random cookie
// (Secure, HttpOnly, SameSite=Strict); every action needs the session's
// CSRF token and a same-origin request.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/httpapi"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console serves the console's pages. Register mounts them.
type Console struct {
	// API is the API the console is a client of (httpapi.Server).
	API http.Handler
	// Config names each project's environments (for the rollback form).
	Config *config.Config
	// TemporalUI, when set, is the Temporal Web UI's address: a run page
	// links to its raw history there.
	TemporalUI string
	// TemporalNamespace is the namespace in those links ("": default).
	TemporalNamespace string
	Log               *slog.Logger
	// LogPage is how many lines of a log a page shows (the newest when
	// following); a larger log is paged, never sent whole.
	LogPage int

	sessions *sessions
	refused  *failures
	pages    map[string]*template.Template
}

// New returns a console over api whose sign-ins last ttl.
func New(api http.Handler, cfg *config.Config, log *slog.Logger, ttl time.Duration) *Console {
	c := &Console{API: api, Config: cfg, Log: log, LogPage: 1000, sessions: newSessions(ttl), refused: newFailures()}
	c.pages = map[string]*template.Template{}
	for _, page := range []string{"signin", "runs", "run", "status", "log", "environments", "delivery", "chaos", "chaosrun", "pools", "message"} {
		files := []string{"templates/layout.html", "templates/" + page + ".html"}
		if page == "run" {
			files = append(files, "templates/status.html")
		}
		c.pages[page] = template.Must(template.New(page).Funcs(funcs).ParseFS(templateFS, files...))
	}
	return c
}

// Register mounts the console on mux, at / beside the API's /api/ routes.
func (c *Console) Register(mux *http.ServeMux) {
	// every state-changing request must come from the console's own
	// pages: a cross-origin one is refused before anything reads it
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.message(w, http.StatusForbidden, "Refused", "This request came from another site. Nothing was done: use the console's own pages.")
	}))
	post := func(h http.HandlerFunc) http.Handler { return cop.Handler(h) }
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", c.page(c.runsPage))
	mux.HandleFunc("GET /signin", c.signinPage)
	mux.Handle("POST /signin", post(c.signin))
	mux.Handle("POST /signout", post(c.action(c.signout)))
	mux.HandleFunc("GET /run", c.page(c.runPage))
	mux.HandleFunc("GET /run/status", c.page(c.statusPart))
	mux.HandleFunc("GET /run/log", c.page(c.logPage))
	mux.HandleFunc("GET /run/events", c.page(c.events))
	mux.Handle("POST /run/decide", post(c.action(c.decide)))
	mux.HandleFunc("GET /environments", c.page(c.environmentsPage))
	mux.Handle("POST /rollback", post(c.action(c.rollback)))
	mux.HandleFunc("GET /delivery", c.page(c.deliveryPage))
	mux.HandleFunc("GET /chaos", c.page(c.chaosPage))
	mux.HandleFunc("GET /pools", c.page(c.poolsPage))
	mux.HandleFunc("GET /chaos/run", c.page(c.chaosRunPage))
	mux.HandleFunc("GET /", c.notFound)
}

// request is a signed-in request: its session and who the API says the
// session's credential is.
type request struct {
	*http.Request
	s  *session
	id httpapi.Identity
}

// page admits a signed-in user: anyone else goes to the sign-in page and
// comes back after it.
func (c *Console) page(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := c.signedIn(w, r)
		if !ok {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, req)
	}
}

// action admits a signed-in user's form with the session's CSRF token;
// without a live session the action is not done and the user signs in
// again.
func (c *Console) action(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		req, ok := c.signedIn(w, r)
		if !ok {
			http.Redirect(w, r, "/signin?expired=1", http.StatusSeeOther)
			return
		}
		if !validCSRF(r, req.s) {
			c.message(w, http.StatusForbidden, "Refused", "This form is stale or did not come from the console. Nothing was done: reload the page and try again.")
			return
		}
		h(w, req)
	}
}

// signedIn finds r's session and asks the API who its credential is; a
// credential the API no longer accepts (revoked, or an expired ID token)
// ends the session.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request) (*request, bool) {
	ss := c.sessions.get(r)
	if ss == nil {
		return nil, false
	}
	var id httpapi.Identity
	if a := c.call(r.Context(), ss.token, http.MethodGet, "/api/v1/whoami", nil, &id); a.code != http.StatusOK {
		c.sessions.end(w, ss)
		return nil, false
	}
	return &request{Request: r, s: ss, id: id}, true
}

// answer is the API's answer to an in-process call.
type answer struct {
	code int
	body []byte
}

// problem is the API's message of a failed call, for the page.
func (a answer) problem() string {
	msg := strings.TrimSpace(string(a.body))
	if msg == "" {
		msg = http.StatusText(a.code)
	}
	return msg
}

// call makes an API request with credential token and decodes a 2xx JSON
// answer into out (when not nil).
func (c *Console) call(ctx context.Context, token, method, path string, body, out any) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{code: http.StatusInternalServerError, body: []byte(err.Error())}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return answer{code: http.StatusBadRequest, body: []byte(err.Error())}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	c.API.ServeHTTP(rec, req)
	a := answer{code: rec.status(), body: rec.buf.Bytes()}
	if out != nil && a.code/100 == 2 {
		if err := json.Unmarshal(a.body, out); err != nil {
			return answer{code: http.StatusBadGateway, body: []byte("the API's answer could not be read: " + err.Error())}
		}
	}
	return a
}

// recorder keeps an in-process API answer.
type recorder struct {
	header http.Header
	code   int
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.buf.Write(p)
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// render writes page with data, in the layout.
func (c *Console) render(w http.ResponseWriter, code int, page string, data any) {
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		c.Log.Error("console page", "page", page, "error", err)
		http.Error(w, "the page could not be made; the server's log says why", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// view is what every page's layout shows.
type view struct {
	Title string
	// Who is the signed-in user ("" on the sign-in page).
	Who   string
	CSRF  string
	Flash string
	Nav   string
	Page  any
}

func (c *Console) view(r *request, title, nav string, page any) view {
	who := r.id.Name
	if r.id.User != "" {
		who = r.id.User + " (" + r.id.Name + ")"
	}
	return view{Title: title, Who: who, CSRF: r.s.csrf, Flash: c.sessions.takeFlash(r.s), Nav: nav, Page: page}
}

// message answers a page with one message (a refusal, a missing page).
func (c *Console) message(w http.ResponseWriter, code int, title, text string) {
	c.render(w, code, "message", view{Title: title, Page: text})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		http.Error(w, "404 page not found: the API's routes are under /api/v1/", http.StatusNotFound)
		return
	}
	c.message(w, http.StatusNotFound, "Not found", fmt.Sprintf("There is no page %s. The runs are on the first page.", r.URL.Path))
}

// back sends the user to a page of the console, with a message shown
// there once.
func (c *Console) back(w http.ResponseWriter, r *request, to, flash string) {
	if flash != "" {
		c.sessions.setFlash(r.s, flash)
	}
	http.Redirect(w, r.Request, to, http.StatusSeeOther)
}

// localPath is next if it is a path of this site, else "/".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
