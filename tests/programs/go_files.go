// A static Go program exercising files the way Go programs do (raw syscalls, no libc).
//   go_files read FILE | walk DIR | readdir DIR | write FILE TEXT | sha256 FILE
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go_files read|walk|readdir|write|sha256 PATH [TEXT]")
		os.Exit(2)
	}
	path := os.Args[2]
	var err error
	switch os.Args[1] {
	case "read":
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			os.Stdout.Write(data)
		}
	case "walk":
		err = filepath.Walk(path, func(p string, info fs.FileInfo, err error) error {
			if err != nil {
				return err
			}
			fmt.Printf("%s %s %d\n", p, info.Mode().Type().String(), info.Size())
			return nil
		})
	case "readdir":
		var entries []os.DirEntry
		if entries, err = os.ReadDir(path); err == nil {
			for _, e := range entries {
				fmt.Println(e.Name(), e.IsDir())
			}
		}
	case "write":
		err = os.WriteFile(path, []byte(os.Args[3]), 0644)
	case "sha256":
		var f *os.File
		if f, err = os.Open(path); err == nil {
			h := sha256.New()
			if _, err = io.Copy(h, f); err == nil {
				fmt.Printf("%x\n", h.Sum(nil))
			}
			f.Close()
		}
	default:
		err = fmt.Errorf("unknown command %s", os.Args[1])
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
