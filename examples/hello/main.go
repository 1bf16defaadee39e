// Command hello is the sample application Sluice's demo and tests build.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
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

func main() {
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, Greeting(r.URL.Query().Get("name")))
	})
	http.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, Version) })
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Fatal(http.ListenAndServe(addr, nil))
}
