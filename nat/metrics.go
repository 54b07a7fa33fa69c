package nat

import (
	"net/netip"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-fw/rampart/ipproto"
)

// Stats are the translator's counters.
type Stats struct {
	// Mappings live now, and the bound on them.
	Mappings, MaxMappings int
	// Allocations are the mappings made; Preserved those that kept the
	// inside port; Expired those freed with their last connection.
	Allocations, Preserved, Expired uint64
	// Outcomes counts the new connections by what Create did with them:
	// Outcomes[Exhausted] and Outcomes[QuotaExceeded] are the drops for
	// want of a port or of quota, Outcomes[NoMapping] the inbound packets
	// to no mapping (or an expired one).
	Outcomes [numOutcomes]uint64
	// BadRewrites are packets that could not be rewritten (ICMP errors
	// with a truncated quote) and were dropped.
	BadRewrites uint64
}

// Stats returns the counters; it takes no lock.
func (t *Translator) Stats() Stats {
	s := Stats{
		Mappings:    int(t.stats.mappings.Load()),
		MaxMappings: t.cfg.MaxMappings,
		Allocations: t.stats.allocations.Load(),
		Preserved:   t.stats.preserved.Load(),
		Expired:     t.stats.expired.Load(),
		BadRewrites: t.stats.badRewrite.Load(),
	}
	for i := range s.Outcomes {
		s.Outcomes[i] = t.stats.outcomes[i].Load()
	}
	return s
}

// Mapping is a snapshot of one mapping.
type Mapping struct {
	Proto          ipproto.Proto
	Inside, Public netip.AddrPort
	// Connections holding it.
	Connections int
}

// Mappings returns the live mappings, ordered by protocol and inside
// endpoint.
func (t *Translator) Mappings() []Mapping {
	t.mu.RLock()
	out := make([]Mapping, 0, t.live)
	for i := range t.maps {
		if m := &t.maps[i]; m.refs > 0 {
			out = append(out, Mapping{Proto: m.inside.proto, Inside: m.inside.ap, Public: m.public.ap, Connections: int(m.refs)})
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b Mapping) int {
		if a.Proto != b.Proto {
			return int(a.Proto) - int(b.Proto)
		}
		return a.Inside.Compare(b.Inside)
	})
	return out
}

var (
	mappingsDesc    = prometheus.NewDesc("rampart_nat_mappings", "Mappings live now.", nil, nil)
	maxMappingsDesc = prometheus.NewDesc("rampart_nat_max_mappings", "Configured bound on mappings.", nil, nil)
	allocDesc       = prometheus.NewDesc("rampart_nat_allocations_total", "Mappings made.", nil, nil)
	preservedDesc   = prometheus.NewDesc("rampart_nat_port_preserved_total", "Mappings that kept the inside port.", nil, nil)
	expiredDesc     = prometheus.NewDesc("rampart_nat_expired_total", "Mappings freed with their last connection.", nil, nil)
	connsDesc       = prometheus.NewDesc("rampart_nat_connections_total", "New connections by outcome: untranslated, translated, and the drops refused, no_mapping, filtered, quota_exceeded, exhausted.", []string{"outcome"}, nil)
	badRewriteDesc  = prometheus.NewDesc("rampart_nat_bad_rewrite_total", "Packets dropped because they could not be translated (ICMP errors with a truncated quote).", nil, nil)
)

// Collector returns a prometheus.Collector for the translator's counters;
// it reads them on each scrape.
func (t *Translator) Collector() prometheus.Collector { return collector{t} }

type collector struct{ t *Translator }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mappingsDesc, maxMappingsDesc, allocDesc, preservedDesc, expiredDesc, connsDesc, badRewriteDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.t.Stats()
	ch <- prometheus.MustNewConstMetric(mappingsDesc, prometheus.GaugeValue, float64(s.Mappings))
	ch <- prometheus.MustNewConstMetric(maxMappingsDesc, prometheus.GaugeValue, float64(s.MaxMappings))
	ch <- prometheus.MustNewConstMetric(allocDesc, prometheus.CounterValue, float64(s.Allocations))
	ch <- prometheus.MustNewConstMetric(preservedDesc, prometheus.CounterValue, float64(s.Preserved))
	ch <- prometheus.MustNewConstMetric(expiredDesc, prometheus.CounterValue, float64(s.Expired))
	for o, n := range s.Outcomes {
		ch <- prometheus.MustNewConstMetric(connsDesc, prometheus.CounterValue, float64(n), Outcome(o).String())
	}
	ch <- prometheus.MustNewConstMetric(badRewriteDesc, prometheus.CounterValue, float64(s.BadRewrites))
}
