package podcli

import (
	"os"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/spf13/cobra"

	"github.com/jobwq/jobwq/internal/broker"
)

// BrokerFlags are the connection settings shared by the commands that talk
// to the broker.
type BrokerFlags struct {
	url string
}

// Register adds --broker-url to cmd.
func (f *BrokerFlags) Register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "broker-url", "", "broker URL (default: $BROKER_URL, or $BROKER_HOST with $BROKER_PORT, $BROKER_VHOST, $BROKER_USERNAME, $BROKER_PASSWORD, $BROKER_TLS, or "+broker.DefaultURL+")")
}

// Config is the broker the flags and environment name.
func (f *BrokerFlags) Config() (broker.Config, error) {
	if f.url != "" {
		return broker.ParseURL(f.url)
	}
	return broker.ConfigFromEnv(os.Getenv, broker.DefaultURL)
}

// Dial connects once to the broker the flags and environment name, for
// the commands a person runs (status, retry); the pods' seed and work
// retry while the broker starts.
func (f *BrokerFlags) Dial() (*amqp.Connection, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	conn, err := cfg.Dial()
	if err != nil {
		return nil, brokerError(err)
	}
	return conn, nil
}

// BrokerEnvDoc says where the broker commands find the broker, for their
// help.
const BrokerEnvDoc = `The broker is --broker-url, or $BROKER_URL, or $BROKER_HOST with
$BROKER_PORT (5672, or 5671 with TLS), $BROKER_VHOST (/), $BROKER_USERNAME,
$BROKER_PASSWORD and $BROKER_TLS (true: amqps, the certificate checked
against the system's roots) (the rendered manifests set these, the
credentials from the broker's Secret), or else ` + broker.DefaultURL + `.`
