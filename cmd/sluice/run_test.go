package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/gitsrc/gitsrctest"
	"github.com/sluice-cd/sluice/webhooks"
)

type captured struct{ req contract.Request }

func (c *captured) Dispatch(_ context.Context, _ string, req contract.Request) (string, bool, error) {
	c.req = req
	return "dispatch/x", false, nil
}

// TestWebhookAndCLIBuildOneRequest: one push asked for by a signed-off
// webhook (through the server's adapter) and by `sluice run` becomes the
// same request — spec, repository, commit, author and its identities,
// message — because both doors use the one request builder. Only what a
// door alone knows differs: the delivery id, and the pusher, whom the CLI
// cannot know.
func TestWebhookAndCLIBuildOneRequest(t *testing.T) {
	ctx := context.Background()
	dir, _ := gitsrctest.Repo(t, "../../examples/hello", "version: 1\non: {branches: [main]}\nbuild: {commands: [make]}\n")
	if err := os.WriteFile(filepath.Join(dir, "CHANGES"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commit := gitsrctest.Commit(t, dir, "add CHANGES\n\nA body the subject line summarises.")

	cli, err := buildRequest(ctx, dir, "main", "", "acme/hello")
	if err != nil {
		t.Fatal(err)
	}
	var got captured
	hooks := &webhooks.Pushes{Config: &config.Config{}, Dispatch: &got}
	push := webhooks.Push{
		Provider: "github", Repo: "acme/hello", Branch: "main", Commit: commit,
		AuthorName: gitsrctest.AuthorName, AuthorEmail: gitsrctest.AuthorEmail, Pusher: "dave",
		Message: "add CHANGES\n\nA body the subject line summarises.", DeliveryID: "delivery-1",
	}
	out, err := hooks.StartPush(ctx, &config.Repository{Name: "acme/hello", CloneURL: dir}, push)
	if err != nil || out.Result != "accepted" {
		t.Fatalf("webhook: %+v, %v", out, err)
	}
	hook := got.req
	if hook.Push.DeliveryID != "delivery-1" || !reflect.DeepEqual(hook.Push.PusherIDs, []string{"dave"}) || cli.Push.DeliveryID == "" {
		t.Errorf("what only a door knows: webhook delivery %q, pusher %v; CLI delivery %q", hook.Push.DeliveryID, hook.Push.PusherIDs, cli.Push.DeliveryID)
	}
	hook.Push.DeliveryID, cli.Push.DeliveryID, hook.Push.PusherIDs = "", "", nil
	if !reflect.DeepEqual(cli, hook) {
		t.Errorf("the doors built different requests for one push:\n cli     %+v\n webhook %+v", cli.Push, hook.Push)
	}
	if cli.Push.Commit != commit || cli.Push.Message != "add CHANGES" || cli.Spec.Name != "hello" {
		t.Errorf("request: commit %s, message %q, spec name %q", cli.Push.Commit, cli.Push.Message, cli.Spec.Name)
	}
}
