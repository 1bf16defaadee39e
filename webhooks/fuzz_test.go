package webhooks

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// fuzzParser checks a parser never panics and either returns a push with a
// repository, branch and commit, an Ignored reason, or ErrMalformed.
func fuzzParser(f *testing.F, file string, events []string, parse func(string, []byte) (*Push, error)) {
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		f.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("{{COMMIT}}"), []byte("6113728f27ae82c7b1a177c8d03f9e96e0adf246"))
	b = bytes.ReplaceAll(b, []byte("{{REPO}}"), []byte("acme/hello"))
	for _, ev := range events {
		f.Add(ev, b)
		f.Add(ev, []byte(`{}`))
		f.Add(ev, []byte(`{"ref": 1}`))
		f.Add(ev, []byte(`[`))
	}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		p, err := parse(event, body)
		var ig Ignored
		switch {
		case err == nil:
			if p == nil || p.Repo == "" || (!p.Deleted && (p.Branch == "" || p.Commit == "")) {
				t.Fatalf("accepted an empty push: %+v", p)
			}
		case errors.As(err, &ig), errors.Is(err, ErrMalformed):
		default:
			t.Fatalf("unclassified error: %v", err)
		}
	})
}

func FuzzParseGitHub(f *testing.F) {
	fuzzParser(f, "github_push.json", []string{"push", "pull_request", "ping"}, ParseGitHub)
}

func FuzzParseGitLab(f *testing.F) {
	// a merge request event without its user once crashed the handler
	f.Add("Merge Request Hook", []byte(`{"object_kind":"merge_request","project":{"path_with_namespace":"acme/gl"},"object_attributes":{"action":"open","source_project_id":1,"target_project_id":1,"source_branch":"x","last_commit":{"id":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}}}`))
	fuzzParser(f, "gitlab_push.json", []string{"Push Hook", "Merge Request Hook"}, ParseGitLab)
}

func FuzzParseGitea(f *testing.F) {
	fuzzParser(f, "gitea_push.json", []string{"push", "create"}, ParseGitea)
}
