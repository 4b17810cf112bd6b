// Command gureum is the single binary of Gureum: server, agent, up, image
// and simulate subcommands all live in internal/cli.
package main

import (
	"os"

	"github.com/gureum/gureum/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
