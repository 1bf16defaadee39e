// Command hello is the sample application Sluice's demo and tests build.
package main

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Version is what /version answers: the demo's second push changes it.
const Version = "1"

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

func main() {
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, Greeting(r.URL.Query().Get("name")))
	})
	http.HandleFunc("/visits", func(w http.ResponseWriter, r *http.Request) {
		n, err := Visit(os.Getenv("REDIS_ADDR"))
		if err != nil {
			http.Error(w, "visits: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "visits %d\n", n)
	})
	http.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, Version) })
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Fatal(http.ListenAndServe(addr, nil))
}
