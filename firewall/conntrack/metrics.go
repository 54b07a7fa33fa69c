package conntrack

import "github.com/prometheus/client_golang/prometheus"

// collector exposes a Table's Stats as Prometheus metrics. It reads the
// counters on each scrape; nothing is updated on the packet path.
type collector struct {
	t            *Table
	entries      *prometheus.Desc
	maxEntries   *prometheus.Desc
	evictable    *prometheus.Desc
	created      *prometheus.Desc
	deleted      *prometheus.Desc
	expired      *prometheus.Desc
	adaptive     *prometheus.Desc
	earlyDrop    *prometheus.Desc
	evictedIdle  *prometheus.Desc
	insertFailed *prometheus.Desc
	refused      *prometheus.Desc
	scale        *prometheus.Desc
	invalid      *prometheus.Desc
	ignored      *prometheus.Desc
}

// Collector returns a prometheus.Collector for the table's counters:
//
//	rampart_conntrack_entries                 gauge
//	rampart_conntrack_max_entries             gauge
//	rampart_conntrack_evictable_entries       gauge
//	rampart_conntrack_created_total           counter
//	rampart_conntrack_deleted_total           counter
//	rampart_conntrack_expired_total           counter
//	rampart_conntrack_adaptive_expired_total  counter
//	rampart_conntrack_early_drop_total        counter
//	rampart_conntrack_evicted_idle_total      counter
//	rampart_conntrack_insert_failed_total     counter
//	rampart_conntrack_refused_total{limit}    counter (source, prefix)
//	rampart_conntrack_timeout_scale           gauge
//	rampart_conntrack_invalid_total{reason}   counter
//	rampart_conntrack_ignored_total{reason}   counter
func (t *Table) Collector() prometheus.Collector {
	const ns, sub = "rampart", "conntrack"
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, sub, name), help, labels, nil)
	}
	return &collector{
		t:            t,
		entries:      d("entries", "Connections currently tracked."),
		maxEntries:   d("max_entries", "Configured bound on tracked connections."),
		evictable:    d("evictable_entries", "Entries that make room first when the table is full: unassured ones and closing TCP connections."),
		created:      d("created_total", "Entries created."),
		deleted:      d("deleted_total", "Entries removed by deletion, flush, policy recheck or TCP reset."),
		expired:      d("expired_total", "Entries removed because their timeout passed."),
		adaptive:     d("adaptive_expired_total", "Entries removed because their timeout, scaled down while the table was under pressure, passed."),
		earlyDrop:    d("early_drop_total", "Unassured or closing entries evicted to make room for new ones."),
		evictedIdle:  d("evicted_idle_total", "Entries evicted to make room when no unassured one was left, the longest idle first, assured or not."),
		insertFailed: d("insert_failed_total", "New connections refused because the table was full."),
		refused:      d("refused_total", "New connections refused because their source address or source prefix held its bound of entries.", "limit"),
		scale:        d("timeout_scale", "Factor applied to every timeout now: 1 below the adaptive start, falling to 0 at its end."),
		invalid:      d("invalid_total", "Packets classified invalid, by reason.", "reason"),
		ignored:      d("ignored_total", "Packets passed without updating their entry, by reason.", "reason"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.maxEntries
	ch <- c.evictable
	ch <- c.created
	ch <- c.deleted
	ch <- c.expired
	ch <- c.adaptive
	ch <- c.earlyDrop
	ch <- c.evictedIdle
	ch <- c.insertFailed
	ch <- c.refused
	ch <- c.scale
	ch <- c.invalid
	ch <- c.ignored
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.t.Stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.entries, st.Entries)
	gauge(c.maxEntries, st.MaxEntries)
	gauge(c.evictable, st.Evictable)
	counter(c.created, st.Created)
	counter(c.deleted, st.Deleted)
	counter(c.expired, st.Expired)
	counter(c.adaptive, st.AdaptiveExpired)
	counter(c.earlyDrop, st.EarlyDrop)
	counter(c.evictedIdle, st.EvictedIdle)
	counter(c.insertFailed, st.InsertFailed)
	counter(c.refused, st.Invalid[ReasonSourceLimit], "source")
	counter(c.refused, st.Invalid[ReasonPrefixLimit], "prefix")
	ch <- prometheus.MustNewConstMetric(c.scale, prometheus.GaugeValue, st.TimeoutScale)
	for r := ReasonMalformed; r < ReasonCount; r++ {
		switch {
		case r.ignores():
			counter(c.ignored, st.Ignored[r], r.String())
		case r != ReasonTableFull && r != ReasonSourceLimit && r != ReasonPrefixLimit: // counted above
			counter(c.invalid, st.Invalid[r], r.String())
		}
	}
}
