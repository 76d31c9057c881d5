package workqueue

// External is a broker the team already runs: jobwq renders no broker,
// and the seeder and workers connect to this one.
type External struct {
	Host  string `json:"host"`
	Port  int    `json:"port,omitempty"`
	Vhost string `json:"vhost,omitempty"`
	TLS   bool   `json:"tls"`
	// CIDRs are where the seeder may reach it; empty, anywhere.
	CIDRs []string `json:"cidrs,omitempty"`
}

// BrokerPort is the port to reach the external broker on: the spec's, or
// AMQP's (5671 with TLS, 5672 without).
func (e *External) BrokerPort() int {
	switch {
	case e.Port != 0:
		return e.Port
	case e.TLS:
		return 5671
	}
	return 5672
}
