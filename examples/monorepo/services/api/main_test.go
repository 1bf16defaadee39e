package main

import "testing"

func TestMessage(t *testing.T) {
	if got := message(); got != "hello, api" {
		t.Fatalf("message = %q", got)
	}
}
