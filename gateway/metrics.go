package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	framesDesc = prometheus.NewDesc("rampart_gateway_frames_total", "Frames handled, by verdict and reason.", []string{"verdict", "reason"}, nil)
	rulesDesc  = prometheus.NewDesc("rampart_gateway_rule_hits_total", "New connections decided by each rule of the policy in force (rule -1: a default).", []string{"rule", "line", "text"}, nil)
	fragsDesc  = prometheus.NewDesc("rampart_gateway_fragmented_datagrams", "Fragmented datagrams whose first fragment passed, tracked so that the rest follow.", nil, nil)
	fragEvDesc = prometheus.NewDesc("rampart_gateway_fragmented_datagrams_evicted_total", "Tracked fragmented datagrams evicted because the table was full.", nil, nil)
)

// Collector exports the engine's counters and its connection table's.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- framesDesc
	ch <- rulesDesc
	ch <- fragsDesc
	ch <- fragEvDesc
	c.e.ct.Collector().Describe(ch)
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for v := Verdict(0); v <= Reject; v++ {
		for r := Reason(0); r < numReasons; r++ {
			if n := c.e.stats[v][r].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(framesDesc, prometheus.CounterValue, float64(n), v.String(), r.String())
			}
		}
	}
	for _, h := range c.e.RuleHits() {
		ch <- prometheus.MustNewConstMetric(rulesDesc, prometheus.CounterValue, float64(h.Hits), strconv.Itoa(h.Index), strconv.Itoa(h.Line), h.Text)
	}
	tracked, evicted := c.e.frags.stats()
	ch <- prometheus.MustNewConstMetric(fragsDesc, prometheus.GaugeValue, float64(tracked))
	ch <- prometheus.MustNewConstMetric(fragEvDesc, prometheus.CounterValue, float64(evicted))
	c.e.ct.Collector().Collect(ch)
}
