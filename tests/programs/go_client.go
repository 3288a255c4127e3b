// A static Go program (CGO_ENABLED=0: Go's own resolver and raw syscalls) that fetches a URL from
// many goroutines at once and reports what it saw.
//   go_client URL [GOROUTINES]
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go_client URL [GOROUTINES]")
		os.Exit(2)
	}
	target := os.Args[1]
	workers := 1
	if len(os.Args) > 2 {
		workers, _ = strconv.Atoi(os.Args[2])
	}
	u, err := url.Parse(target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	addrs, err := net.LookupHost(u.Hostname())
	if err != nil {
		fmt.Println("lookup error:", err)
		os.Exit(1)
	}
	fmt.Println("resolved", u.Hostname(), "to", addrs)

	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	results := make([]string, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := client.Get(target)
			if err != nil {
				results[i] = "error: " + err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[i] = string(body)
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, r := range results {
		if r == results[0] && len(r) > 0 && r[:5] != "error" {
			ok++
		}
	}
	fmt.Printf("%d/%d ok: %s", ok, workers, results[0])
	host, _ := os.Hostname()
	fmt.Println("hostname", host)
	if ok != workers {
		os.Exit(1)
	}
}
