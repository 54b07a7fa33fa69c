package server

import (
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Amplification is what a reflection attack through the resolver would
// gain: the UDP octets the server sent to a client network over those it
// received from it. A spoofed flood names its victim as the source, so the
// victim's network is the client whose ratio shows the attack; response
// rate limiting is what keeps that ratio near or below 1.

const (
	// ampShards × ampWays is the number of client networks whose octets
	// are counted (a bounded table: a flood from random sources cannot
	// grow it); a new network replaces the one of its shard that received
	// the fewest octets, so the heavy ones stay.
	ampShards = 16
	ampWays   = 16
	// ampTop is how many networks, those sent the most, the metrics show.
	ampTop = 10
)

// clientOctets is one client network's UDP octets in and out.
type clientOctets struct {
	client  netip.Prefix
	in, out uint64
}

type ampShard struct {
	mu      sync.Mutex
	e       [ampWays]clientOctets // guarded by mu; client invalid when free
	evicted uint64                // guarded by mu
}

// octetTable counts the UDP octets of the heaviest client networks.
type octetTable struct {
	seed   maphash.Seed // immutable after newOctetTable
	shards [ampShards]ampShard
}

func newOctetTable() *octetTable { return &octetTable{seed: maphash.MakeSeed()} }

// add counts in octets received from and out octets sent to client.
func (a *octetTable) add(client netip.Prefix, in, out uint64) {
	sh := &a.shards[maphash.Comparable(a.seed, client)%ampShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	victim := 0
	for i := range sh.e {
		e := &sh.e[i]
		if e.client == client {
			e.in += in
			e.out += out
			return
		}
		if v := &sh.e[victim]; v.client.IsValid() && (!e.client.IsValid() || e.out < v.out) {
			victim = i
		}
	}
	if sh.e[victim].client.IsValid() {
		sh.evicted++
	}
	sh.e[victim] = clientOctets{client: client, in: in, out: out}
}

// top returns the k networks sent the most octets, most first, and the
// networks forgotten so far.
func (a *octetTable) top(k int) ([]clientOctets, uint64) {
	var all []clientOctets
	var evicted uint64
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		for _, e := range sh.e {
			if e.client.IsValid() {
				all = append(all, e)
			}
		}
		evicted += sh.evicted
		sh.mu.Unlock()
	}
	slices.SortFunc(all, func(x, y clientOctets) int {
		switch {
		case x.out > y.out:
			return -1
		case x.out < y.out:
			return 1
		}
		return x.client.Addr().Compare(y.client.Addr())
	})
	return all[:min(k, len(all))], evicted
}

// Amplification returns the ratio of octets sent to octets received for
// client network p (0 when it is not among those counted or sent nothing).
func (m *Metrics) Amplification(p netip.Prefix) float64 {
	tops, _ := m.clients.top(ampShards * ampWays)
	for _, e := range tops {
		if e.client == p && e.in > 0 {
			return float64(e.out) / float64(e.in)
		}
	}
	return 0
}

// octetCollector exports the table's heaviest networks: their octets
// each way and the ratio. Only the current top networks are exported, so
// the series stay few whatever the sources.
type octetCollector struct {
	t                      *octetTable
	octets, ratio, evicted *prometheus.Desc
}

func newOctetCollector(t *octetTable) *octetCollector {
	return &octetCollector{t: t,
		octets: prometheus.NewDesc("rampart_dns_client_udp_bytes_total",
			"UDP octets received from and sent to the client networks sent the most (top 10), by direction.", []string{"client", "direction"}, nil),
		ratio: prometheus.NewDesc("rampart_dns_client_amplification_ratio",
			"Octets sent over octets received, for the client networks sent the most (top 10): a reflection attack's gain.", []string{"client"}, nil),
		evicted: prometheus.NewDesc("rampart_dns_client_bytes_evictions_total",
			"Client networks whose octet counts were forgotten to keep the table bounded.", nil, nil),
	}
}

func (c *octetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.octets
	ch <- c.ratio
	ch <- c.evicted
}

func (c *octetCollector) Collect(ch chan<- prometheus.Metric) {
	tops, evicted := c.t.top(ampTop)
	for _, e := range tops {
		client := e.client.String()
		ch <- prometheus.MustNewConstMetric(c.octets, prometheus.CounterValue, float64(e.in), client, "in")
		ch <- prometheus.MustNewConstMetric(c.octets, prometheus.CounterValue, float64(e.out), client, "out")
		if e.in > 0 {
			ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, float64(e.out)/float64(e.in), client)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.evicted, prometheus.CounterValue, float64(evicted))
}

// octets counts, in the tally of one batch, in octets received from and
// out octets sent to client; the batch's distinct clients reach the
// shared table once each when the tally is flushed.
func (t *tally) octets(m *Metrics, client netip.Prefix, in, out int) {
	t.bytesIn += uint64(in)
	t.bytesOut += uint64(out)
	for i := range t.clients[:t.nClients] {
		if c := &t.clients[i]; c.client == client {
			c.in += uint64(in)
			c.out += uint64(out)
			return
		}
	}
	if t.nClients == len(t.clients) {
		// More distinct clients than a batch holds: the oldest goes to
		// the table now.
		t.flushClients(m)
	}
	t.clients[t.nClients] = clientOctets{client: client, in: uint64(in), out: uint64(out)}
	t.nClients++
}

// flushClients moves the per-client octets of t into m's table.
func (t *tally) flushClients(m *Metrics) {
	for _, c := range t.clients[:t.nClients] {
		m.clients.add(c.client, c.in, c.out)
	}
	t.nClients = 0
}
