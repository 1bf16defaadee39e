package logstore

import (
	"io"
	"os"
	"strings"
	"testing"
)

func TestWriterPrefixesAndRedacts(t *testing.T) {
	s, err := New(t.TempDir(), []string{"hunter2-token", "abc"})
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

func TestPathRejectsTraversal(t *testing.T) {
	s, _ := New(t.TempDir(), nil)
	for _, id := range []string{"../etc/passwd", "a/b", ""} {
		if _, err := s.Path(id); err == nil {
			t.Errorf("accepted run id %q", id)
		}
	}
}
