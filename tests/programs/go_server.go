// A small static Go HTTP server for benchmarks: go_server PORT NAME -> answers "NAME\n".
package main

import (
	"net/http"
	"os"
)

func main() {
	body := []byte(os.Args[2] + "\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	if err := http.ListenAndServe(":"+os.Args[1], nil); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
