// Prints syscall.Statfs of a path: type, block size, blocks, free, available, files, free files.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	var st syscall.Statfs_t
	if err := syscall.Statfs(os.Args[1], &st); err != nil {
		fmt.Println("statfs:", err)
		os.Exit(1)
	}
	fmt.Printf("type=%x bsize=%d blocks=%d bfree=%d bavail=%d files=%d ffree=%d\n",
		st.Type, st.Bsize, st.Blocks, st.Bfree, st.Bavail, st.Files, st.Ffree)
}
