// Command hashatlas is the one binary of hashatlas: collectors, the estimator, migrations and
// reports are its subcommands. This package parses flags, builds the components and wires them;
// the logic lives in the packages it imports.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
