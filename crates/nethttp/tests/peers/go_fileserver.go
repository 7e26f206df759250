//! Go's own static file server, the reference tests/fs_go_parity.rs compares ours with.

// Command go_fileserver DIR serves http.FileServer(http.Dir(DIR)) on 127.0.0.1, at a port
// the kernel picks, prints the bound address (host:port) on one line of stdout, and exits
// when stdin closes, so it never outlives the test that started it. Standard library only.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_fileserver DIR")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	log.Fatal(http.Serve(ln, http.FileServer(http.Dir(os.Args[1]))))
}
