package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/devserver/devservertest"
	"github.com/sluice-cd/sluice/logstore"
	"github.com/sluice-cd/sluice/policy"
	"github.com/sluice-cd/sluice/records"
	"github.com/sluice-cd/sluice/runs"
)

// TestLogsOfAForgottenRun: on a server with projects, the log of a run
// Temporal has forgotten is authorised by the project the records hold
// for it — its project's viewer reads it, another project's is refused —
// and a run neither knows is 404.
func TestLogsOfAForgottenRun(t *testing.T) {
	ctx := context.Background()
	logs, err := logstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := records.Open(ctx, filepath.Join(t.TempDir(), "records.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	const wf, run = "pipeline/acme/pay:main", "0193abcd-ef01-7000-8000-000000000001"
	if err := store.WriteRun(ctx, contract.RunRecord{WorkflowID: wf, RunID: run, Project: "payments", Repository: "acme/pay",
		Branch: "main", Commit: "c1", State: "succeeded", Started: time.Now(), Seq: 2}); err != nil {
		t.Fatal(err)
	}
	if err := logs.Append(run, "build", "compiled long ago"); err != nil {
		t.Fatal(err)
	}
	s := New(&runs.Client{Temporal: devservertest.Start(t)}, logs, slog.New(slog.DiscardHandler))
	s.Records = store
	s.Config = &config.Config{Projects: []policy.Project{{Name: "payments", Repositories: []string{"acme/pay"}}, {Name: "search", Repositories: []string{"acme/search"}}}}
	s.Tokens = map[string]Client{
		"payments-viewer-token-0123456789": {Name: "pv", Roles: access.Grants{"payments": {access.Viewer}}},
		"search-viewer-token-01234567890":  {Name: "sv", Roles: access.Grants{"search": {access.Viewer}}},
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	url := srv.URL + "/api/v1/logs/" + run + "?workflow=" + wf
	if code, body := get(t, url, "payments-viewer-token-0123456789"); code != http.StatusOK || !strings.Contains(body, "compiled long ago") {
		t.Errorf("payments' viewer: %d %q", code, body)
	}
	if code, body := get(t, url, "search-viewer-token-01234567890"); code != http.StatusForbidden || strings.Contains(body, "compiled") {
		t.Errorf("search's viewer: %d %q", code, body)
	}
	other := srv.URL + "/api/v1/logs/0193abcd-ef01-7000-8000-000000000002?workflow=" + wf
	if code, _ := get(t, other, "payments-viewer-token-0123456789"); code != http.StatusNotFound {
		t.Errorf("a run neither Temporal nor the records know: %d, want 404", code)
	}
}
