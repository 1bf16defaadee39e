// Command hello is the sample application Sluice's demo and tests build.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

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
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Fatal(http.ListenAndServe(addr, nil))
}
