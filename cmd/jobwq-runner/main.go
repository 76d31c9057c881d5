// Command jobwq-runner is the jobwq runner image's program: the seeder and
// the one-item worker of a work-queue run, without the spec, build and
// policy commands (see internal/podcli).
package main

import (
	"os"

	"github.com/jobwq/jobwq/internal/podcli"
)

func main() { os.Exit(podcli.Main()) }
