package authoritative

import (
	"strconv"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// numRcodes covers every rcode assigned up to BADCOOKIE (23); the rest
// are counted together.
const numRcodes = 24

type counters struct {
	queriesUDP, queriesTCP atomic.Uint64
	dropped, truncated     atomic.Uint64
	tcpRefused             atomic.Uint64
	rcodes                 [numRcodes]atomic.Uint64
	rcodeOther             atomic.Uint64
}

func (c *counters) response(rcode int) {
	if rcode >= 0 && rcode < numRcodes {
		c.rcodes[rcode].Add(1)
		return
	}
	c.rcodeOther.Add(1)
}

// Stats is a snapshot of a Server's counters.
type Stats struct {
	QueriesUDP, QueriesTCP uint64
	// Dropped counts queries not answered: shorter than a header, or
	// with QR set.
	Dropped uint64
	// Truncated counts responses sent with TC=1.
	Truncated uint64
	// TCPConnsRefused counts connections closed for exceeding
	// Config.MaxTCPConns.
	TCPConnsRefused uint64
	// Responses counts responses by rcode, extended rcodes included
	// (BADVERS is 16); ResponsesOther counts any above 23.
	Responses      [numRcodes]uint64
	ResponsesOther uint64
}

// Stats returns the counters as they are now.
func (s *Server) Stats() Stats {
	st := Stats{
		QueriesUDP:      s.stats.queriesUDP.Load(),
		QueriesTCP:      s.stats.queriesTCP.Load(),
		Dropped:         s.stats.dropped.Load(),
		Truncated:       s.stats.truncated.Load(),
		TCPConnsRefused: s.stats.tcpRefused.Load(),
		ResponsesOther:  s.stats.rcodeOther.Load(),
	}
	for i := range st.Responses {
		st.Responses[i] = s.stats.rcodes[i].Load()
	}
	return st
}

var (
	descQueries = prometheus.NewDesc("rampart_authoritative_queries_total",
		"Queries received by the authoritative server.", []string{"transport"}, nil)
	descResponses = prometheus.NewDesc("rampart_authoritative_responses_total",
		"Responses sent by the authoritative server, by rcode.", []string{"rcode"}, nil)
	descDropped = prometheus.NewDesc("rampart_authoritative_dropped_total",
		"Queries not answered: too short or not a query.", nil, nil)
	descTruncated = prometheus.NewDesc("rampart_authoritative_truncated_total",
		"Responses sent with TC=1.", nil, nil)
	descTCPRefused = prometheus.NewDesc("rampart_authoritative_tcp_refused_total",
		"TCP connections closed for exceeding the connection limit.", nil, nil)
)

// Collector exposes the server's counters to Prometheus. It reads the same
// atomics as Stats, so registering it costs the query path nothing.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Server }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueries
	ch <- descResponses
	ch <- descDropped
	ch <- descTruncated
	ch <- descTCPRefused
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(st.QueriesUDP), "udp")
	ch <- prometheus.MustNewConstMetric(descQueries, prometheus.CounterValue, float64(st.QueriesTCP), "tcp")
	for rcode, n := range st.Responses {
		if n == 0 {
			continue
		}
		name, ok := dns.RcodeToString[rcode]
		if rcode == dns.RcodeBadVers {
			name = "BADVERS" // shares 16 with TSIG's BADSIG
		} else if !ok {
			name = strconv.Itoa(rcode)
		}
		ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(n), name)
	}
	if st.ResponsesOther > 0 {
		ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(st.ResponsesOther), "other")
	}
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descTruncated, prometheus.CounterValue, float64(st.Truncated))
	ch <- prometheus.MustNewConstMetric(descTCPRefused, prometheus.CounterValue, float64(st.TCPConnsRefused))
}
