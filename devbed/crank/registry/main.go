// registry serves an OCI distribution registry on loopback for the test bed:
// `crossplane xpkg push` sends the project's packages to it and Crossplane core
// pulls them from it, as it would from any registry. Blobs live in memory and
// go with the process.
//
// It listens on -address (port 0: any free port) and prints the address it
// serves on, one line, once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:0", "host:port to listen on")
	flag.Parse()
	l, err := net.Listen("tcp", *address)
	if err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(os.Stderr, "", log.LstdFlags)))}
	if err := srv.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}
