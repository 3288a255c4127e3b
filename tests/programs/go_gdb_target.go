// For the debugger tests, in Go: reads a file and exits with its number of lines.
package main

import (
	"os"
	"strings"
)

//go:noinline
func process(content string) int {
	lines := strings.Count(content, "\n")
	return lines
}

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		os.Exit(100)
	}
	os.Exit(process(string(data)))
}
