package logstore

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriterPrefixesAndRedacts(t *testing.T) {
	s, err := New(t.TempDir(), []string{"hunter2-token"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Writer("run-1", "build")
	if err != nil {
		t.Fatal(err)
	}
	// the secret arrives split across writes; redaction works on whole lines
	io.WriteString(w, "token=hunter2-")
	io.WriteString(w, "token ok\nabc is short\npartial")
	w.Close()
	p, _ := s.Path("run-1")
	b, _ := os.ReadFile(p)
	got := string(b)
	if strings.Contains(got, "hunter2") {
		t.Fatalf("secret written: %q", got)
	}
	want := "build | token=[redacted] ok\nbuild | abc is short\nbuild | partial\n"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// TestRedactsEncodedForms writes a secret the ways a step could print it
// to get past a plain string match; none of them may reach the log.
func TestRedactsEncodedForms(t *testing.T) {
	const secret = "p@ss/w0rd+\"quoted\"&more"
	multi := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END KEY-----"
	s, err := New(t.TempDir(), []string{secret, multi})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(map[string]string{"password": secret})
	lines := []string{
		"plain " + secret,
		"base64 " + base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64url " + base64.URLEncoding.EncodeToString([]byte(secret)),
		"in a basic-auth header " + base64.StdEncoding.EncodeToString([]byte("user:"+secret)),
		"offset two " + base64.StdEncoding.EncodeToString([]byte("ab"+secret+"tail")),
		"url " + url.QueryEscape(secret),
		"json " + string(js),
		"reversed " + reverse(secret),
		"hex " + hex.EncodeToString([]byte(secret)),
		"key line MIIEvQIBADANBgkqhkiG9w0",
	}
	for _, l := range lines {
		out := string(s.Redact([]byte(l)))
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("not redacted: %q", out)
		}
		if strings.Contains(out, "w0rd") || strings.Contains(out, "MIIEvQ") {
			t.Errorf("part of the secret left: %q", out)
		}
	}
	if got := string(s.Redact([]byte("an ordinary line"))); got != "an ordinary line" {
		t.Errorf("ordinary text changed: %q", got)
	}
}

func TestShortSecretsAreRefused(t *testing.T) {
	if _, err := New(t.TempDir(), []string{"abc"}); err == nil || strings.Contains(err.Error(), "abc") {
		t.Fatalf("want a refusal that does not show the secret, got %v", err)
	}
}

func TestLogsAreReadableByTheServerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	s, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append("run-1", "sluice", "hello"); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Path("run-1")
	for path, want := range map[string]os.FileMode{dir: 0o700, p: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode().Perm(), want, err)
		}
	}
}

func TestPathRejectsTraversal(t *testing.T) {
	s, _ := New(t.TempDir(), nil)
	for _, id := range []string{"../etc/passwd", "a/b", ""} {
		if _, err := s.Path(id); err == nil {
			t.Errorf("accepted run id %q", id)
		}
	}
}

// TestWithSecrets: a phase's store redacts its pipeline secrets besides the
// server's; the store it came from does not learn them.
func TestWithSecrets(t *testing.T) {
	s, err := New(t.TempDir(), []string{"server-token-0123"})
	if err != nil {
		t.Fatal(err)
	}
	phase := s.WithSecrets([]string{"pipeline-secret-0123"})
	line := []byte("server-token-0123 pipeline-secret-0123")
	if got := string(phase.Redact(line)); got != "[redacted] [redacted]" {
		t.Fatalf("phase store: %q", got)
	}
	if got := string(s.Redact(line)); got != "[redacted] pipeline-secret-0123" {
		t.Fatalf("the server's store: %q", got)
	}
	if s.WithSecrets(nil) != s {
		t.Fatal("no secrets should give the same store")
	}
}
