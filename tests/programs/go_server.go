// A small static Go HTTP server for benchmarks: go_server PORT NAME -> answers "NAME\n"; on
// SIGTERM it says how many requests it served ("NAME served N") and exits.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	body := []byte(os.Args[2] + "\n")
	var served atomic.Int64
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write(body)
	})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		fmt.Fprintf(os.Stderr, "%s served %d\n", os.Args[2], served.Load())
		os.Exit(0)
	}()
	if err := http.ListenAndServe(":"+os.Args[1], nil); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
