package workqueue

import (
	"fmt"
	"io"
	"io/fs"

	"github.com/jobwq/jobwq/internal/position"
)

// Stdin is the spec path that stands for standard input.
const Stdin = "-"

// stdinName stands for standard input in positions.
const stdinName = "stdin"

// readStdin reads a spec from r within the size limit.
func readStdin(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read spec from stdin: %w", err)
	}
	if len(data) > MaxSpecBytes {
		return nil, position.Errors{position.Errorf(position.Position{File: stdinName}, "", "spec is larger than %d bytes (put large item lists in itemsFile)", MaxSpecBytes)}
	}
	return data, nil
}

// regular refuses a spec that is not a regular file: reading a named pipe
// or a device could block forever or never end.
func regular(path string, fi fs.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	what := "a special file"
	switch m := fi.Mode(); {
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("read spec: %s is %s, not a regular file: pass the spec on standard input with - instead", position.Display(path), what)
}
