package greet

import "testing"

func TestHello(t *testing.T) {
	if got := Hello("api"); got != "hello, api" {
		t.Fatalf("Hello = %q", got)
	}
}
