package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-fw/rampart/ids/defrag"
	"github.com/rampart-fw/rampart/router"
)

var (
	framesDesc    = prometheus.NewDesc("rampart_gateway_frames_total", "Frames handled, by verdict and reason.", []string{"verdict", "reason"}, nil)
	rulesDesc     = prometheus.NewDesc("rampart_gateway_rule_hits_total", "New connections decided by each rule of the policy in force (rule -1: a default).", []string{"rule", "line", "text"}, nil)
	fragsDesc     = prometheus.NewDesc("rampart_gateway_fragments_total", "IP fragments taken for reassembly.", nil, nil)
	fragDoneDesc  = prometheus.NewDesc("rampart_gateway_fragment_datagrams_completed_total", "Fragmented datagrams reassembled and judged whole.", nil, nil)
	fragEvDesc    = prometheus.NewDesc("rampart_gateway_fragment_events_total", "Reassembly events by kind: overlap, duplicate, oversize, tiny_fragment, id_reuse, bad_end, too_many_fragments, malformed; and datagrams discarded at their time-out, evicted for memory, or over their source's quota.", []string{"kind"}, nil)
	fragHeldDesc  = prometheus.NewDesc("rampart_gateway_fragment_datagrams", "Fragmented datagrams under reassembly.", nil, nil)
	routerDesc    = prometheus.NewDesc("rampart_gateway_router_events_total", "What the router of router mode did with frames: forwarded, fragmented, queued for a neighbour, ARP and ND answered, neighbours learnt, unsolicited claims ignored, martians, no route, TTL exceeded, too big, pings answered, answers held back by the rate limits, neighbour resolution refused or failed.", []string{"event"}, nil)
	neighDesc     = prometheus.NewDesc("rampart_gateway_router_neighbours", "Entries of the router's neighbour cache, by state.", []string{"state"}, nil)
	fragBytesDesc = prometheus.NewDesc("rampart_gateway_fragment_memory_bytes", "Memory held by fragments under reassembly.", nil, nil)
)

// Collector exports the engine's counters, its connection table's and
// its translator's.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- framesDesc
	ch <- rulesDesc
	ch <- fragsDesc
	ch <- fragDoneDesc
	ch <- fragEvDesc
	ch <- fragHeldDesc
	ch <- fragBytesDesc
	if c.e.cfg.Router != nil {
		ch <- routerDesc
		ch <- neighDesc
	}
	c.e.ct.Collector().Describe(ch)
	if c.e.cfg.NAT != nil {
		c.e.cfg.NAT.Collector().Describe(ch)
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for v := Verdict(0); v < numVerdicts; v++ {
		for r := Reason(0); r < numReasons; r++ {
			if n := c.e.stats[v][r].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(framesDesc, prometheus.CounterValue, float64(n), v.String(), r.String())
			}
		}
	}
	for _, h := range c.e.RuleHits() {
		ch <- prometheus.MustNewConstMetric(rulesDesc, prometheus.CounterValue, float64(h.Hits), strconv.Itoa(h.Index), strconv.Itoa(h.Line), h.Text)
	}
	fs := c.e.frags.Stats()
	ch <- prometheus.MustNewConstMetric(fragsDesc, prometheus.CounterValue, float64(fs.Fragments))
	ch <- prometheus.MustNewConstMetric(fragDoneDesc, prometheus.CounterValue, float64(fs.Completed))
	for k := defrag.KindOverlap; int(k) < defrag.NumKinds; k++ {
		ch <- prometheus.MustNewConstMetric(fragEvDesc, prometheus.CounterValue, float64(fs.Events[k]), k.String())
	}
	ch <- prometheus.MustNewConstMetric(fragHeldDesc, prometheus.GaugeValue, float64(fs.Datagrams))
	ch <- prometheus.MustNewConstMetric(fragBytesDesc, prometheus.GaugeValue, float64(fs.Memory))
	if r := c.e.cfg.Router; r != nil {
		for ev := router.Event(0); int(ev) < router.NumEvents; ev++ {
			ch <- prometheus.MustNewConstMetric(routerDesc, prometheus.CounterValue, float64(r.Count(ev)), ev.String())
		}
		var states [router.NumStates]int
		for _, n := range r.Neighbours() {
			states[n.State]++
		}
		for st, n := range states {
			ch <- prometheus.MustNewConstMetric(neighDesc, prometheus.GaugeValue, float64(n), router.State(st).String())
		}
	}
	c.e.ct.Collector().Collect(ch)
	if c.e.cfg.NAT != nil {
		c.e.cfg.NAT.Collector().Collect(ch)
	}
}
