package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
)

// brokerFlags are the connection settings shared by the broker commands.
type brokerFlags struct {
	url string
}

func (f *brokerFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "broker-url", "", "broker URL (default: $BROKER_URL, or $BROKER_HOST with $BROKER_PORT, $BROKER_VHOST, $BROKER_USERNAME, $BROKER_PASSWORD, or "+broker.DefaultURL+")")
}

func (f *brokerFlags) config() (broker.Config, error) {
	if f.url != "" {
		return broker.ParseURL(f.url)
	}
	return broker.ConfigFromEnv(os.Getenv, broker.DefaultURL)
}

// logger prefixes every line with the command, for pod logs.
func logger(w io.Writer, name string) func(format string, args ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "jobwq %s: %s\n", name, fmt.Sprintf(format, args...))
	}
}

const brokerEnvDoc = `The broker is --broker-url, or $BROKER_URL, or $BROKER_HOST with
$BROKER_PORT (5672), $BROKER_VHOST (/), $BROKER_USERNAME and
$BROKER_PASSWORD (the rendered manifests set these, the credentials from the
broker's Secret), or else ` + broker.DefaultURL + `.`
