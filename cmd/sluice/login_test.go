package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-cd/sluice/access"
	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/httpapi"
	"github.com/sluice-cd/sluice/policy"
	"github.com/sluice-cd/sluice/testenv/oidctest"
)

// loginServer is a Sluice HTTP server that trusts idp's ID tokens for
// client sluice; alice is a viewer of project payments.
func loginServer(t *testing.T, idp *oidctest.Provider) string {
	t.Helper()
	cfg := &config.Config{
		Repositories: []config.Repository{{Name: "acme/pay", Provider: config.GitHub, CloneURL: t.TempDir()}},
		Projects:     []policy.Project{{Name: "payments", Repositories: []string{"acme/pay"}}},
		OIDC: &config.OIDC{Issuer: idp.URL, ClientID: "sluice", Claim: "sub", Users: map[string]config.OIDCUser{
			"alice": {User: "alice", Roles: access.Grants{"payments": {access.Viewer}}},
		}},
	}
	o, err := httpapi.NewOIDC(context.Background(), cfg.OIDC, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := httpapi.New(nil, nil, slog.New(slog.DiscardHandler))
	s.Config, s.OIDC = cfg, o
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

// loginAs runs `sluice login` as g, playing person at the provider: it
// reads the code the command prints and enters it for them.
func loginAs(t *testing.T, g *globals, idp *oidctest.Provider, person string) error {
	t.Helper()
	pr, pw := io.Pipe()
	g.stderr = pw
	code := regexp.MustCompile(`enter the code (\S+)`)
	approved := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := code.FindStringSubmatch(sc.Text()); m != nil {
				approved <- idp.Approve(m[1], person)
			}
		}
	}()
	cmd := quiet(newLoginCmd(g))
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(oidctest.SluiceSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.SetArgs([]string{"--client-secret-file", secret})
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	pw.Close()
	select {
	case aerr := <-approved:
		if aerr != nil {
			t.Fatalf("%s entering the code: %v", person, aerr)
		}
	default:
		if err == nil {
			t.Fatal("login succeeded without printing a code")
		}
	}
	return err
}

// TestLoginWithTheDeviceFlow: `sluice login` against a server that trusts
// a real OpenID Connect provider signs alice in with the device flow (the
// test plays alice entering the printed code), keeps her ID token in a
// 0600 file, and later commands act as her without --token: whoami names
// her roles, and a run she may not start is refused as oidc:alice. The
// sign-in of mallory, whom the server does not know, keeps nothing. An
// expired sign-in says to log in again; logout forgets it.
func TestLoginWithTheDeviceFlow(t *testing.T) {
	idp := oidctest.Start(t)
	url := loginServer(t, idp)
	creds := filepath.Join(t.TempDir(), "conf", "credentials.json")
	g := &globals{serverURL: url, credentials: creds, tokenFile: filepath.Join(t.TempDir(), "none"), output: "text", stdout: &bytes.Buffer{}}

	if err := loginAs(t, g, idp, "mallory"); err == nil || !strings.Contains(err.Error(), "not a user of this server") {
		t.Fatalf("mallory's sign-in: %v", err)
	}
	if _, err := os.Stat(creds); !os.IsNotExist(err) {
		t.Fatalf("a refused sign-in was kept: %v", err)
	}

	if err := loginAs(t, g, idp, "alice"); err != nil {
		t.Fatal(err)
	}
	if out := g.stdout.(*bytes.Buffer).String(); !strings.Contains(out, "signed in to "+url+" as oidc:alice (user alice) until ") {
		t.Errorf("login said %q", out)
	}
	if fi, err := os.Stat(creds); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}

	whoami := func() (string, error) {
		out := &bytes.Buffer{}
		g.stdout = out
		cmd := quiet(newWhoamiCmd(g))
		cmd.SetArgs(nil)
		cmd.SetContext(context.Background())
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := whoami(); err != nil || out != "oidc:alice (user alice)\n  payments: viewer\n" {
		t.Fatalf("whoami: %q %v", out, err)
	}
	if _, err := g.requestRun(context.Background(), "acme/pay", "main", "", ""); err == nil || !strings.Contains(err.Error(), `token "oidc:alice" has no role that may run in project payments`) {
		t.Fatalf("alice's run: %v", err)
	}

	// the provider's tokens live an hour: move the kept expiry to the past
	var c credentials
	b, _ := os.ReadFile(creds)
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	in := c.Servers[url]
	in.Expiry = time.Now().Add(-time.Minute)
	c.Servers[url] = in
	if err := writeCredentials(creds, c); err != nil {
		t.Fatal(err)
	}
	if _, err := whoami(); err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "run `sluice login` again") {
		t.Fatalf("an expired sign-in: %v", err)
	}

	logout := quiet(newLogoutCmd(g))
	logout.SetArgs(nil)
	if err := logout.Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := whoami(); err == nil || !strings.Contains(err.Error(), "no API token: run `sluice login`") {
		t.Fatalf("after logout: %v", err)
	}
}

// quiet leaves a command's errors to the test: cobra prints none, nor its
// usage (the root command does the same for the CLI).
func quiet(cmd *cobra.Command) *cobra.Command {
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd
}

// TestLoginRefusesPlainHTTPElsewhere: an ID token is never sent in the
// clear to another machine.
func TestLoginRefusesPlainHTTPElsewhere(t *testing.T) {
	g := &globals{serverURL: "http://sluice.example.com:8080", credentials: filepath.Join(t.TempDir(), "c.json"), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	if err := g.login(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "use its https:// address") {
		t.Fatalf("%v", err)
	}
	for _, ok := range []string{"https://sluice.example.com", "http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"} {
		if err := clearTextRisk(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestLoginOnAServerWithoutOIDC: a server with API tokens only says so.
func TestLoginOnAServerWithoutOIDC(t *testing.T) {
	s := httpapi.New(nil, nil, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s)
	defer srv.Close()
	g := &globals{serverURL: srv.URL, credentials: filepath.Join(t.TempDir(), "c.json"), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	if err := g.login(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "takes API tokens only") {
		t.Fatalf("%v", err)
	}
}
