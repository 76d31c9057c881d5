// Command jobwq-runner is the jobwq runner image's program: the seeder and
// the one-item worker of a work-queue run, without the spec, build and
// policy commands (see internal/runner).
package main

import (
	"os"

	"github.com/jobwq/jobwq/internal/runner"
)

func main() { os.Exit(runner.Main()) }
