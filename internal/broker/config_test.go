package broker

import (
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    amqp.URI
		wantErr string
	}{
		{
			name: "url wins",
			env:  map[string]string{EnvURL: "amqp://a:b@broker:5673/v", EnvHost: "ignored"},
			want: amqp.URI{Scheme: "amqp", Host: "broker", Port: 5673, Username: "a", Password: "b", Vhost: "v"},
		},
		{
			name: "separate settings from a Secret, any bytes",
			env:  map[string]string{EnvHost: "job-wq-broker", EnvUsername: "jöb@wq", EnvPassword: "p@ss:w/rd%?#&= x"},
			want: amqp.URI{Scheme: "amqp", Host: "job-wq-broker", Port: 5672, Username: "jöb@wq", Password: "p@ss:w/rd%?#&= x", Vhost: "/"},
		},
		{
			name: "port and vhost",
			env:  map[string]string{EnvHost: "h", EnvPort: "5671", EnvVhost: "team/a", EnvUsername: "u", EnvPassword: "p"},
			want: amqp.URI{Scheme: "amqp", Host: "h", Port: 5671, Username: "u", Password: "p", Vhost: "team/a"},
		},
		{
			name: "fallback",
			env:  map[string]string{},
			want: amqp.URI{Scheme: "amqp", Host: "127.0.0.1", Port: 5672, Username: "guest", Password: "guest", Vhost: "/"},
		},
		{
			name: "tls",
			env:  map[string]string{EnvHost: "rabbit.example.com", EnvTLS: "true", EnvVhost: "batch", EnvUsername: "u", EnvPassword: "p"},
			want: amqp.URI{Scheme: "amqps", Host: "rabbit.example.com", Port: 5671, Username: "u", Password: "p", Vhost: "batch"},
		},
		{
			name: "tls on another port",
			env:  map[string]string{EnvHost: "h", EnvTLS: "true", EnvPort: "443", EnvUsername: "u", EnvPassword: "p"},
			want: amqp.URI{Scheme: "amqps", Host: "h", Port: 443, Username: "u", Password: "p", Vhost: "/"},
		},
		{name: "bad tls", env: map[string]string{EnvHost: "h", EnvTLS: "yes", EnvUsername: "u"}, wantErr: `BROKER_TLS="yes": want true or false`},
		{name: "bad port", env: map[string]string{EnvHost: "h", EnvPort: "amqp", EnvUsername: "u"}, wantErr: `BROKER_PORT="amqp": want a port number`},
		{name: "no user", env: map[string]string{EnvHost: "h"}, wantErr: "BROKER_HOST is set but BROKER_USERNAME is empty"},
		{name: "bad url", env: map[string]string{EnvURL: "http://u:secret@h/"}, wantErr: "broker URL http://u:xxxxx@h/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ConfigFromEnv(func(k string) string { return tt.env[k] }, DefaultURL)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// What Dial will parse must be what the settings say.
			got, err := amqp.ParseURI(cfg.URL())
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", cfg.URL(), err)
			}
			if got.Scheme != tt.want.Scheme || got.Host != tt.want.Host || got.Port != tt.want.Port || got.Username != tt.want.Username ||
				got.Password != tt.want.Password || got.Vhost != tt.want.Vhost {
				t.Errorf("round trip = %+v, want %+v", got, tt.want)
			}
			shown, err := amqp.ParseURI(cfg.String())
			if err != nil || shown.Password != "xxxxx" || shown.Host != tt.want.Host {
				t.Errorf("String() = %s, want the address with the password hidden", cfg)
			}
		})
	}
}

// FuzzConfigFromEnv: any Secret contents survive the trip through the URI.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("user", "pass", "/")
	f.Add("jöb@wq", "p@ss:w/rd%?#&= x", "team/a")
	f.Add("", "", "")
	f.Add("u", "p", "true")
	f.Fuzz(func(t *testing.T, user, pass, vhost string) {
		env := map[string]string{EnvHost: "h", EnvUsername: user, EnvPassword: pass, EnvVhost: vhost, EnvTLS: map[bool]string{true: "true"}[len(user)%2 == 1]}
		cfg, err := ConfigFromEnv(func(k string) string { return env[k] }, "")
		if err != nil {
			return
		}
		got, err := amqp.ParseURI(cfg.URL())
		if err != nil {
			t.Fatalf("settings %q/%q/%q give an unparsable URI: %v", user, pass, vhost, err)
		}
		wantVhost := vhost
		if wantVhost == "" {
			wantVhost = "/"
		}
		if got.Username != user || got.Password != pass || got.Vhost != wantVhost {
			t.Fatalf("round trip %q/%q/%q = %q/%q/%q", user, pass, vhost, got.Username, got.Password, got.Vhost)
		}
	})
}

// TestFallbackRootsOnce: every TLS dial asks for the fallback roots, and
// crypto/x509 panics when they are set twice.
func TestFallbackRootsOnce(t *testing.T) {
	fallbackRoots()
	fallbackRoots()
}
