// Package broker is jobwq's side of RabbitMQ: the seeder that loads a run's
// items into its queue exactly once, the worker that takes one item, runs a
// command on it and acknowledges it only on success, and the status of a
// queue. It speaks AMQP 0-9-1 through github.com/rabbitmq/amqp091-go.
//
// A run's queue Q comes with three companions, named by suffix:
//
//	Q.lock  exclusive, held by the one seeder at work (gone with its connection)
//	Q.seal  one message, written once every item is confirmed in Q
//	Q.dead  where an item goes after its last allowed delivery
//
// Workers take nothing from Q until Q.seal holds its message.
package broker

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Suffixes of a queue's companions; spec.queue.name is bounded so that the
// longest of them still fits AMQP's 255-byte names.
const (
	SealSuffix = ".seal"
	DeadSuffix = ".dead"
	LockSuffix = ".lock"
)

// Config says where the broker is.
type Config struct {
	URI amqp.URI
}

// Env names read by ConfigFromEnv. The rendered manifests set the separate
// ones, with the credentials from a Secret.
const (
	EnvURL      = "BROKER_URL"
	EnvHost     = "BROKER_HOST"
	EnvPort     = "BROKER_PORT"
	EnvVhost    = "BROKER_VHOST"
	EnvUsername = "BROKER_USERNAME"
	EnvPassword = "BROKER_PASSWORD"
	// EnvTLS "true" connects with TLS (amqps, port 5671 unless
	// BROKER_PORT says otherwise), checking the broker's certificate
	// against the system's roots.
	EnvTLS = "BROKER_TLS"
)

// DefaultURL is a broker on this machine with RabbitMQ's stock account,
// which only accepts connections from localhost.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// ConfigFromEnv reads BROKER_URL, or else BROKER_HOST, BROKER_PORT (5672),
// BROKER_VHOST (/), BROKER_USERNAME, BROKER_PASSWORD and BROKER_TLS. The credentials
// may hold any bytes; they are percent-encoded as the URI needs. With none
// of these set, fallback is used.
func ConfigFromEnv(getenv func(string) string, fallback string) (Config, error) {
	if u := getenv(EnvURL); u != "" {
		return ParseURL(u)
	}
	host := getenv(EnvHost)
	if host == "" {
		if fallback == "" {
			return Config{}, fmt.Errorf("no broker: set %s, or %s with %s and %s", EnvURL, EnvHost, EnvUsername, EnvPassword)
		}
		return ParseURL(fallback)
	}
	uri := amqp.URI{Scheme: "amqp", Host: host, Port: 5672, Vhost: "/", Username: getenv(EnvUsername), Password: getenv(EnvPassword)}
	switch t := getenv(EnvTLS); t {
	case "", "false":
	case "true":
		uri.Scheme, uri.Port = "amqps", 5671
	default:
		return Config{}, fmt.Errorf("%s=%q: want true or false", EnvTLS, t)
	}
	if p := getenv(EnvPort); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("%s=%q: want a port number", EnvPort, p)
		}
		uri.Port = n
	}
	if v := getenv(EnvVhost); v != "" {
		uri.Vhost = v
	}
	if uri.Username == "" {
		return Config{}, fmt.Errorf("%s is set but %s is empty", EnvHost, EnvUsername)
	}
	return Config{URI: uri}, nil
}

// ParseURL parses an amqp:// or amqps:// URL.
func ParseURL(s string) (Config, error) {
	uri, err := amqp.ParseURI(s)
	if err != nil {
		return Config{}, fmt.Errorf("broker URL %s: %w", redactURL(s), err)
	}
	return Config{URI: uri}, nil
}

// URL is the broker's address with its credentials. It is built here
// rather than by amqp.URI.String, which drops the leading slash of a vhost
// such as "/team".
func (c Config) URL() string { return c.url(c.URI.Password) }

// String is the broker's address without the password, for logs and errors.
func (c Config) String() string {
	if c.URI.Password == "" {
		return c.url("")
	}
	return c.url("xxxxx")
}

func (c Config) url(password string) string {
	u := url.URL{
		Scheme: c.URI.Scheme,
		Host:   net.JoinHostPort(c.URI.Host, strconv.Itoa(c.URI.Port)),
		// The vhost is one path segment: "/" itself becomes %2F.
		Path:    "/" + c.URI.Vhost,
		RawPath: "/" + url.PathEscape(c.URI.Vhost),
	}
	if c.URI.Vhost == "/" {
		// The default vhost: amqp091 reads a bare "/" as "/".
		u.Path, u.RawPath = "/", ""
	}
	if c.URI.Username != "" || password != "" {
		u.User = url.UserPassword(c.URI.Username, password)
	}
	return u.String()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Dial connects once.
func (c Config) Dial() (*amqp.Connection, error) {
	if c.URI.Scheme == "amqps" {
		fallbackRoots()
	}
	conn, err := amqp.DialConfig(c.URL(), amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: amqp.Table{"connection_name": "jobwq"},
		Dial:       amqp.DefaultDial(10 * time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c, err)
	}
	return conn, nil
}

// DialRetry connects, retrying with capped exponential backoff while the
// failure looks temporary (a refused or timed-out connection: the broker
// may still be starting, since everything is applied at once). It gives up
// at once on authentication and access errors, and when ctx ends.
func (c Config) DialRetry(ctx context.Context, logf func(format string, args ...any)) (*amqp.Connection, error) {
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		conn, err := c.Dial()
		if err == nil {
			return conn, nil
		}
		if !temporary(err) {
			return nil, err
		}
		if logf != nil {
			logf("broker not reachable (attempt %d): %v; retrying in %v", attempt, err, delay.Round(time.Millisecond))
		}
		t := time.NewTimer(delay + rand.N(delay/4+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (gave up: %v)", err, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// temporary reports whether a dial error may go away by itself.
func temporary(err error) bool {
	var amqpErr *amqp.Error
	if errors.As(err, &amqpErr) {
		// Refused credentials or vhost: retrying will not help.
		return amqpErr.Code != amqp.AccessRefused && amqpErr.Code != amqp.NotAllowed
	}
	if errors.Is(err, amqp.ErrCredentials) || errors.Is(err, amqp.ErrVhost) || errors.Is(err, amqp.ErrSASL) {
		return false
	}
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) || errors.Is(err, amqp.ErrClosed)
}

// fallbackRoots gives crypto/x509 Mozilla's roots for when the system has
// none: the runner image has no CA bundle, and with BROKER_TLS the broker's
// certificate is checked against them. It is done on the first TLS dial,
// not at start-up (the fallback package's init), which would cost every
// worker pod 1.2 ms of parsing whether it uses TLS or not.
var fallbackRoots = sync.OnceFunc(func() {
	pool := x509.NewCertPool()
	for root := range bundle.Roots() {
		cert, err := x509.ParseCertificate(root.Certificate)
		if err != nil {
			continue // the bundle is generated from parsed certificates
		}
		if root.Constraint == nil {
			pool.AddCert(cert)
		} else {
			pool.AddCertWithConstraint(cert, root.Constraint)
		}
	}
	x509.SetFallbackRoots(pool)
})
