package main

import "testing"

func TestGreeting(t *testing.T) {
	if got := Greeting(""); got != "hello, world\n" {
		t.Fatalf("Greeting(\"\") = %q", got)
	}
	if got := Greeting("sluice"); got != "hello, sluice\n" {
		t.Fatalf("Greeting(\"sluice\") = %q", got)
	}
}
