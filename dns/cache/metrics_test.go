package cache

import (
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	c, clk := populated(t)
	c.GetRRset("missing.example.", dns.TypeA, dns.ClassINET, clk.Now())
	resp := make([]byte, 1024)
	c.AnswerFromWire(query(t, 1, "www.example.com.", dns.TypeA, 0, false), resp)

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c.Collector()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				got[name] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[name] = m.Gauge.GetValue()
			}
		}
	}
	want := map[string]float64{
		"rampart_dns_cache_hits_total{answer}":     1,
		"rampart_dns_cache_misses_total{rrset}":    1,
		"rampart_dns_cache_entries{answer}":        4,
		"rampart_dns_cache_inserts_total":          4,
		"rampart_dns_cache_limit_bytes":            DefaultMaxBytes,
		"rampart_dns_cache_evictions_total":        0,
		"rampart_dns_cache_wire_declined_total":    0,
		"rampart_dns_cache_expirations_total":      0,
		"rampart_dns_cache_stale_hits_total":       0,
		"rampart_dns_cache_rank_rejects_total":     0,
		"rampart_dns_cache_hits_total{negative}":   0,
		"rampart_dns_cache_misses_total{answer}":   0,
		"rampart_dns_cache_entries{rrset}":         0,
		"rampart_dns_cache_prefetches_total":       0,
		"rampart_dns_cache_updates_total":          0,
		"rampart_dns_cache_dropped_total":          0,
		"rampart_dns_cache_flushed_total":          0,
		"rampart_dns_cache_hits_total{rrset}":      0,
		"rampart_dns_cache_misses_total{negative}": 0,
		"rampart_dns_cache_entries{negative}":      0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if got["rampart_dns_cache_size_bytes"] <= 0 {
		t.Errorf("size_bytes = %v", got["rampart_dns_cache_size_bytes"])
	}
	if len(got) != len(want)+1 {
		t.Errorf("%d series, want %d", len(got), len(want)+1)
	}
}
