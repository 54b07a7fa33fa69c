package cache

import "github.com/prometheus/client_golang/prometheus"

// collector exports Stats as rampart_dns_cache_* metrics. It reads the
// counters at scrape time, so the hot paths pay nothing for Prometheus.
type collector struct {
	c *Cache

	hits, misses, entries                  *prometheus.Desc
	staleHits, prefetches, inserts, update *prometheus.Desc
	rankRejects, dropped, evictions        *prometheus.Desc
	expirations, flushed, wireDeclined     *prometheus.Desc
	size, limit                            *prometheus.Desc
}

// Collector returns a prometheus.Collector for the cache's counters.
// Register it once per cache.
func (c *Cache) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rampart_dns_cache_"+name, help, labels, nil)
	}
	return &collector{
		c:            c,
		hits:         d("hits_total", "Lookups answered from the cache, by cache kind.", "kind"),
		misses:       d("misses_total", "Lookups the cache could not answer, by cache kind.", "kind"),
		entries:      d("entries", "Entries held, by cache kind.", "kind"),
		staleHits:    d("stale_hits_total", "Lookups answered with expired data (RFC 8767)."),
		prefetches:   d("prefetches_total", "Prefetch signals handed to the resolver."),
		inserts:      d("inserts_total", "New entries stored."),
		update:       d("updates_total", "Entries replaced in place by fresher data."),
		rankRejects:  d("rank_rejects_total", "Stores refused because the cached data ranked higher."),
		dropped:      d("dropped_total", "Entries refused for being larger than a shard."),
		evictions:    d("evictions_total", "Live entries removed to stay within the memory limit."),
		expirations:  d("expirations_total", "Expired entries removed."),
		flushed:      d("flushed_total", "Entries removed by flush commands."),
		wireDeclined: d("wire_declined_total", "Queries the wire hit path left to the slow path."),
		size:         d("size_bytes", "Memory charged to stored entries, overhead included."),
		limit:        d("limit_bytes", "Configured memory limit."),
	}
}

func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		m.hits, m.misses, m.entries, m.staleHits, m.prefetches, m.inserts, m.update,
		m.rankRejects, m.dropped, m.evictions, m.expirations, m.flushed, m.wireDeclined,
		m.size, m.limit,
	} {
		ch <- d
	}
}

func (m *collector) Collect(ch chan<- prometheus.Metric) {
	s := m.c.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(m.hits, s.RRsetHits, "rrset")
	counter(m.hits, s.NegativeHits, "negative")
	counter(m.hits, s.AnswerHits, "answer")
	counter(m.misses, s.RRsetMisses, "rrset")
	counter(m.misses, s.NegativeMisses, "negative")
	counter(m.misses, s.AnswerMisses, "answer")
	gauge(m.entries, s.RRsets, "rrset")
	gauge(m.entries, s.Negatives, "negative")
	gauge(m.entries, s.Answers, "answer")
	counter(m.staleHits, s.StaleHits)
	counter(m.prefetches, s.Prefetches)
	counter(m.inserts, s.Inserts)
	counter(m.update, s.Updates)
	counter(m.rankRejects, s.RankRejects)
	counter(m.dropped, s.Dropped)
	counter(m.evictions, s.Evictions)
	counter(m.expirations, s.Expirations)
	counter(m.flushed, s.Flushed)
	counter(m.wireDeclined, s.WireDeclined)
	gauge(m.size, s.Bytes)
	gauge(m.limit, s.MaxBytes)
}
