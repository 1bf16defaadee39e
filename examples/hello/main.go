// Command hello is the sample application Sluice's demo and tests build.
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is what /version answers: the demo's second push changes it.
const Version = "1"

// FailEvery, above zero, makes every FailEvery-th request to / answer 500:
// a bad release, for the demo and the tests of release analysis.
var FailEvery int64

// served counts requests to /.
var served atomic.Int64

// Greeting returns the text the service answers with.
func Greeting(name string) string {
	if name == "" {
		name = "world"
	}
	return fmt.Sprintf("hello, %s\n", name)
}

// Visit counts a visit in the Redis at addr (INCR visits, spoken in RESP)
// and returns the count.
func Visit(addr string) (int64, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprint(c, "*2\r\n$4\r\nINCR\r\n$6\r\nvisits\r\n"); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(line, ":") {
		return 0, fmt.Errorf("redis answered %q", strings.TrimSpace(line))
	}
	return strconv.ParseInt(strings.TrimSpace(line[1:]), 10, 64)
}

// requests counts answers by status code for /metrics.
var requests sync.Map // int -> *atomic.Int64

// counted records each answer's status code; the kubelet's probes and
// Prometheus's scrapes are not requests anyone made of the service.
func counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(cw, r)
		n, _ := requests.LoadOrStore(cw.code, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	})
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (w *codeWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// metrics answers in the Prometheus text format.
func metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP hello_requests_total HTTP requests answered, by status code.")
	fmt.Fprintln(w, "# TYPE hello_requests_total counter")
	var codes []int
	requests.Range(func(k, _ any) bool { codes = append(codes, k.(int)); return true })
	sort.Ints(codes)
	for _, c := range codes {
		n, _ := requests.Load(c)
		fmt.Fprintf(w, "hello_requests_total{code=\"%d\"} %d\n", c, n.(*atomic.Int64).Load())
	}
}

func main() {
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if FailEvery > 0 && served.Add(1)%FailEvery == 0 {
			http.Error(w, "failing on purpose (FailEvery)", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, Greeting(r.URL.Query().Get("name")))
	})
	mux.HandleFunc("/visits", func(w http.ResponseWriter, r *http.Request) {
		n, err := Visit(os.Getenv("REDIS_ADDR"))
		if err != nil {
			http.Error(w, "visits: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "visits %d\n", n)
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, Version) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/metrics", metrics)
	srv := &http.Server{Addr: addr, Handler: counted(mux), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
