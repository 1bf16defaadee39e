package main

import (
	"bufio"
	"net"
	"testing"
)

func TestGreeting(t *testing.T) {
	if got := Greeting(""); got != "hello, world\n" {
		t.Fatalf("Greeting(\"\") = %q", got)
	}
	if got := Greeting("sluice"); got != "hello, sluice\n" {
		t.Fatalf("Greeting(\"sluice\") = %q", got)
	}
}

// TestVisitSpeaksRESP answers Visit's INCR the way Redis does. (The
// integration test runs it against a real Redis in the test environment.)
func TestVisitSpeaksRESP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for range 5 { // *2, $4, INCR, $6, visits
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
		}
		c.Write([]byte(":42\r\n"))
	}()
	if n, err := Visit(l.Addr().String()); err != nil || n != 42 {
		t.Fatalf("Visit = %d, %v", n, err)
	}
}
