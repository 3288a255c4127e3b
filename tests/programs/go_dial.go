// Dials a TCP address with net.DialTimeout and reports how it ended and after how long.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	timeout, _ := time.ParseDuration(os.Args[2])
	start := time.Now()
	conn, err := net.DialTimeout("tcp", os.Args[1], timeout)
	elapsed := time.Since(start).Round(100 * time.Millisecond)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			fmt.Printf("timeout after %v\n", elapsed)
		} else {
			fmt.Printf("error after %v: %v\n", elapsed, err)
		}
		return
	}
	fmt.Printf("connected to %v after %v\n", conn.RemoteAddr(), elapsed)
	conn.Close()
}
