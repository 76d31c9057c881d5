// Command probe is a small static program the image tests put in images
// instead of the 48 MB jobwq binary: it prints its version line as jobwq does.
package main

import (
	"fmt"

	"github.com/jobwq/jobwq/internal/version"
)

func main() { fmt.Println(version.Get()) }
