package runs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-cd/sluice/config"
	"github.com/sluice-cd/sluice/contract"
	"github.com/sluice-cd/sluice/pipelines"
	"github.com/sluice-cd/sluice/request"
)

// TestScheduledRunOfARepositoryNoLongerConfigured: a firing whose
// repository was taken out of the server's configuration starts nothing
// and says to delete the schedule.
func TestScheduledRunOfARepositoryNoLongerConfigured(t *testing.T) {
	s := &Scheduler{Builder: &request.Builder{Config: &config.Config{Repositories: []config.Repository{{Name: "acme/other", CloneURL: "/srv/other"}}}}}
	_, err := s.StartScheduled(context.Background(), contract.ScheduledRun{Name: "nightly", Repo: "acme/hello", CloneURL: "/srv/hello", Branch: "main"})
	if err == nil || !strings.Contains(err.Error(), "not in this server's configuration any more") || !strings.Contains(err.Error(), "sluice schedule delete nightly") {
		t.Fatalf("StartScheduled = %v", err)
	}
}

func TestWhenCheck(t *testing.T) {
	for w, want := range map[When]string{
		{}: "exactly one of",
		{Cron: "0 3 * * *", Every: pipelines.Duration(time.Hour)}: "exactly one of",
		{Every: pipelines.Duration(time.Millisecond)}:             "at least 10s",
		{Cron: "0 3 * *"}: "five fields",
		{Cron: "0 3 * * *", TimeZone: "Nowhere/City"}: "not a time zone",
	} {
		if err := w.Check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", w, err, want)
		}
	}
	if err := (When{Cron: "0 3 * * 1-5", TimeZone: "Europe/Berlin"}).Check(); err != nil {
		t.Errorf("a good cron: %v", err)
	}
}
