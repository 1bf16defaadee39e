package worker

import (
	"strings"
	"testing"
)

func TestCrashPointsNeedTheirDirectory(t *testing.T) {
	t.Setenv(EnvCrashAfter, "")
	if c, err := crashAfterFromEnv(); c != nil || err != nil {
		t.Fatalf("unset: %v %v, want off", c, err)
	}
	t.Setenv(EnvCrashAfter, "Bake, Deploy")
	t.Setenv(EnvCrashDir, "")
	if _, err := crashAfterFromEnv(); err == nil || !strings.Contains(err.Error(), EnvCrashDir) {
		t.Fatalf("without a directory: %v, want an error naming %s", err, EnvCrashDir)
	}
	t.Setenv(EnvCrashDir, t.TempDir())
	c, err := crashAfterFromEnv()
	if err != nil || !c.activities["Bake"] || !c.activities["Deploy"] || len(c.activities) != 2 {
		t.Fatalf("%+v %v", c, err)
	}
}
