package podcli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

const installDoc = `Copy the running jobwq binary into DIR as DIR/jobwq.

The worker pods' init container runs this from the jobwq image, into a
volume the worker container mounts, so the user's worker image needs no
rebuild. The copy is written beside its destination and renamed into place.

Examples:
  jobwq install /opt/jobwq`

func newInstallCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "install DIR",
		Short: "Copy the jobwq binary into DIR (the worker pods' init container)",
		Long:  installDoc,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("install: find own executable: %w", err)
			}
			dst := filepath.Join(args[0], "jobwq")
			if err := copyExecutable(self, dst); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "jobwq install: copied %s to %s\n", self, dst)
			return nil
		},
	}
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".jobwq-")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("install: copy to %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("install: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}
