package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// TestMetricsCountAnswersByCode: /metrics reports each status code
// answered, probes and scrapes left out.
func TestMetricsCountAnswersByCode(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hi") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/metrics", metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	srv := httptest.NewServer(counted(mux))
	defer srv.Close()
	for _, p := range []string{"/", "/healthz", "/metrics", "/", "/down"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`hello_requests_total{code="200"} 2`, `hello_requests_total{code="503"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s:\n%s", want, b)
		}
	}
}
