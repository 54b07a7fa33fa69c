package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-fw/rampart/guard"
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
	guardDesc     = prometheus.NewDesc("rampart_gateway_guard_drops_total", "Packets the guard dropped before connection tracking, by reason: spoofed sources, logic attacks (fragment attacks among them), rate limits, feature rules, bad SYN cookies.", []string{"reason"}, nil)
	featureDesc   = prometheus.NewDesc("rampart_gateway_guard_feature_packets_total", "Packets each feature rule matched, and dropped.", []string{"rule", "outcome"}, nil)
	proxyDesc     = prometheus.NewDesc("rampart_gateway_synproxy_events_total", "SYN proxy events: SYNs answered with a cookie (synack), valid cookies (cookie_ok), connections spliced (spliced), handshake segments sent to a server again (server_retry).", []string{"event"}, nil)
	idsTTLDesc    = prometheus.NewDesc("rampart_ids_ttl_packets_total", "Packets the IDS in line judged by their TTL or hop limit: raised to ids.min_ttl (raised), or left out of inspection because they expire before their destination (unreachable: dropped in prevention mode).", []string{"outcome"}, nil)
	idsNormDesc   = prometheus.NewDesc("rampart_ids_normalised_packets_total", "Packets whose header the IDS in prevention mode normalised, by field: the IPv4 reserved flag cleared (ipv4_reserved), IPv4 options overwritten with NOPs (ipv4_options), the TCP reserved bits cleared (tcp_reserved).", []string{"field"}, nil)
	engagedDesc   = prometheus.NewDesc("rampart_gateway_synproxy_engaged_destinations", "Protected destination prefixes whose SYNs the proxy answers now.", nil, nil)
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
	ch <- guardDesc
	ch <- featureDesc
	ch <- proxyDesc
	ch <- engagedDesc
	if c.e.cfg.IDS != nil {
		ch <- idsTTLDesc
		ch <- idsNormDesc
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
	for r, n := range c.e.guard.Drops() {
		if r != int(guard.Pass) {
			ch <- prometheus.MustNewConstMetric(guardDesc, prometheus.CounterValue, float64(n), guard.Reason(r).String())
		}
	}
	for i, f := range c.e.guard.FeatureStats() {
		name := f.Name
		if name == "" {
			name = strconv.Itoa(i + 1)
		}
		ch <- prometheus.MustNewConstMetric(featureDesc, prometheus.CounterValue, float64(f.Hits), name, "matched")
		ch <- prometheus.MustNewConstMetric(featureDesc, prometheus.CounterValue, float64(f.Drops), name, "dropped")
	}
	if px := c.e.guard.Proxy(); px != nil {
		st := px.Stats()
		for _, ev := range []struct {
			name string
			n    uint64
		}{{"synack", st.SYNACKs}, {"cookie_ok", st.CookiesOK}, {"spliced", st.Spliced}, {"server_retry", st.ServerRetries}} {
			ch <- prometheus.MustNewConstMetric(proxyDesc, prometheus.CounterValue, float64(ev.n), ev.name)
		}
		ch <- prometheus.MustNewConstMetric(engagedDesc, prometheus.GaugeValue, float64(st.Engaged))
	}
	if c.e.cfg.IDS != nil {
		st := c.e.cfg.IDS.Stats()
		ch <- prometheus.MustNewConstMetric(idsTTLDesc, prometheus.CounterValue, float64(st.TTLRaised), "raised")
		ch <- prometheus.MustNewConstMetric(idsTTLDesc, prometheus.CounterValue, float64(st.TTLUnreachable), "unreachable")
		ch <- prometheus.MustNewConstMetric(idsNormDesc, prometheus.CounterValue, float64(st.Normalised.IPv4Reserved), "ipv4_reserved")
		ch <- prometheus.MustNewConstMetric(idsNormDesc, prometheus.CounterValue, float64(st.Normalised.IPv4Options), "ipv4_options")
		ch <- prometheus.MustNewConstMetric(idsNormDesc, prometheus.CounterValue, float64(st.Normalised.TCPReserved), "tcp_reserved")
	}
	c.e.ct.Collector().Collect(ch)
	if c.e.cfg.NAT != nil {
		c.e.cfg.NAT.Collector().Collect(ch)
	}
}
