package main

import "testing"

func TestMessage(t *testing.T) {
	if got := message(); got != "hello, web" {
		t.Fatalf("message = %q", got)
	}
}
