// Command jobwq turns a WorkQueue spec into a RabbitMQ-backed Kubernetes batch
// run, checks Job specs against policy, and runs inside the seeding and worker
// pods. All behaviour lives in internal/cli so tests can run it in-process.
package main

import (
	"os"

	"github.com/jobwq/jobwq/internal/cli"
)

func main() { os.Exit(cli.Main()) }
