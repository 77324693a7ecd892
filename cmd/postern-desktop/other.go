//go:build !(linux && cgo)

// Without cgo on Linux there is no FreeRDP: the program only says so.

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "postern-desktop runs on Linux only (built with cgo and FreeRDP 2)")
	os.Exit(2)
}
