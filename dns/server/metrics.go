package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rampart-fw/rampart/dns/wire"
)

// Metrics are the server's Prometheus metrics. Counters on the hit path are
// plain prometheus.Counter values picked out of their vectors once, and UDP
// readers add to them once per batch of datagrams (see tally), so a cached
// answer costs no label lookup and no shared atomic of its own. The fields
// are immutable after NewMetrics; the counters synchronise themselves.
type Metrics struct {
	queriesUDP, queriesTCP               prometheus.Counter
	cacheHits, cacheMisses               prometheus.Counter
	refused, formErr, notImp, dropped    prometheus.Counter
	servFail, badVers                    prometheus.Counter
	overload, tcpRejected                prometheus.Counter
	waitLimited, discarded               prometheus.Counter
	tcpPerSource, tcpIdle                prometheus.Counter
	inflight, tcpConns                   prometheus.Gauge
	latency                              prometheus.Histogram
	responses                            *prometheus.CounterVec
	noerror, nxdomain, servfailResponses prometheus.Counter
	respRefused, respNotImp, respFormErr prometheus.Counter
	stale, prefetches, prefetchSkipped   prometheus.Counter
	cookies                              [CookieMalformed + 1]prometheus.Counter
	// Response rate limiting: responses limited (slipped plus dropped),
	// slipped (sent truncated, or an error sent as it is), dropped, and
	// live accounts forgotten to keep the table bounded.
	rrlLimited, rrlSlipped, rrlDropped, rrlEvicted prometheus.Counter
	// UDP octets received and sent, and per client network (clients).
	udpBytesIn, udpBytesOut prometheus.Counter
	clients                 *octetTable
	collectors              []prometheus.Collector
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered anywhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_dns_queries_total", Help: "Client queries received, by transport."}, []string{"proto"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_dns_cache_lookups_total", Help: "Client queries looked up in the answer cache, by result."}, []string{"result"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_dns_rejected_queries_total", Help: "Client queries not resolved, by reason."}, []string{"reason"})
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_dns_responses_total", Help: "Responses sent, by RCODE."}, []string{"rcode"})
	m := &Metrics{
		queriesUDP:      queries.WithLabelValues("udp"),
		queriesTCP:      queries.WithLabelValues("tcp"),
		cacheHits:       cache.WithLabelValues("hit"),
		cacheMisses:     cache.WithLabelValues("miss"),
		stale:           cache.WithLabelValues("stale"),
		prefetches:      cache.WithLabelValues("prefetch"),
		prefetchSkipped: cache.WithLabelValues("prefetch_skipped"),
		refused:         errs.WithLabelValues("acl_refused"),
		formErr:         errs.WithLabelValues("malformed"),
		notImp:          errs.WithLabelValues("not_implemented"),
		dropped:         errs.WithLabelValues("dropped"),
		servFail:        errs.WithLabelValues("resolution_failed"),
		badVers:         errs.WithLabelValues("bad_edns_version"),
		overload:        errs.WithLabelValues("overload"),
		tcpRejected:     errs.WithLabelValues("tcp_connection_limit"),
		tcpPerSource:    errs.WithLabelValues("tcp_per_source_limit"),
		waitLimited:     errs.WithLabelValues("wait_limit"),
		discarded:       errs.WithLabelValues("discard_timeout"),
		tcpIdle: prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_dns_tcp_idle_closed_total",
			Help: "Client TCP connections closed after sending no query for the idle time-out."}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_dns_inflight_resolutions", Help: "Client queries being resolved now."}),
		tcpConns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_dns_tcp_connections", Help: "Open client TCP connections."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rampart_dns_resolution_duration_seconds", Help: "Time to answer client queries that missed the answer cache.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}),
		responses: responses,
	}
	m.noerror = responses.WithLabelValues("NOERROR")
	m.nxdomain = responses.WithLabelValues("NXDOMAIN")
	m.servfailResponses = responses.WithLabelValues("SERVFAIL")
	m.respRefused = responses.WithLabelValues(rcodeName(wire.RcodeRefused))
	m.respNotImp = responses.WithLabelValues(rcodeName(wire.RcodeNotImp))
	m.respFormErr = responses.WithLabelValues(rcodeName(wire.RcodeFormErr))
	cookies := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_dns_cookies_total", Help: "Client queries by what their DNS cookie proved (RFC 7873)."}, []string{"kind"})
	for v := range m.cookies {
		m.cookies[v] = cookies.WithLabelValues(CookieVerdict(v).String())
	}
	rrl := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_dns_rrl_responses_total",
		Help: "UDP responses response rate limiting acted on: limited (slipped plus dropped), slipped (sent truncated, or an error sent as it is), dropped."}, []string{"action"})
	m.rrlLimited, m.rrlSlipped, m.rrlDropped = rrl.WithLabelValues("limited"), rrl.WithLabelValues("slipped"), rrl.WithLabelValues("dropped")
	m.rrlEvicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_dns_rrl_table_evictions_total",
		Help: "Rate-limit accounts still within their window forgotten to make room for new ones (the table is bounded)."})
	udpBytes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_dns_udp_bytes_total", Help: "UDP octets (DNS messages) received from and sent to clients, by direction."}, []string{"direction"})
	m.udpBytesIn, m.udpBytesOut = udpBytes.WithLabelValues("in"), udpBytes.WithLabelValues("out")
	m.clients = newOctetTable()
	m.collectors = []prometheus.Collector{queries, cache, errs, responses, cookies, m.inflight, m.tcpConns, m.tcpIdle, m.latency,
		rrl, m.rrlEvicted, udpBytes, newOctetCollector(m.clients)}
	if reg != nil {
		for _, c := range m.collectors {
			reg.MustRegister(c)
		}
	}
	return m
}

func (m *Metrics) response(rcode int) {
	switch rcode {
	case wire.RcodeSuccess:
		m.noerror.Inc()
	case wire.RcodeNXDomain:
		m.nxdomain.Inc()
	case wire.RcodeServFail:
		m.servfailResponses.Inc()
	default:
		m.responses.WithLabelValues(rcodeName(rcode)).Inc()
	}
}

func rcodeName(rcode int) string {
	switch rcode {
	case wire.RcodeFormErr:
		return "FORMERR"
	case wire.RcodeNotImp:
		return "NOTIMP"
	case wire.RcodeRefused:
		return "REFUSED"
	case 16:
		return "BADVERS"
	}
	return "OTHER"
}

// tally counts the outcome of queries handled by one reader between two
// flushes. It is plain memory owned by one goroutine, so counting costs no
// atomic operation; flush adds it to the shared counters.
type tally struct {
	queries, hits, misses                       uint64
	refused, notImp, formErr, dropped, overload uint64
	waitLimited                                 uint64 // answered SERVFAIL
	cookies                                     [CookieMalformed + 1]uint64
	// cookie is the verdict on the last query fastTally judged, for a
	// caller that decides per query: the response rate limiter asks
	// cookie.AddressProven() before it limits an answer, since a client
	// that proved its address is no spoofed victim.
	cookie CookieVerdict
	// Response rate limiting (see rateLimiter.judge).
	rrlLimited, rrlSlipped, rrlDropped uint64
	// UDP octets in and out, in all and per client network: the batch's
	// distinct networks, nClients of them.
	bytesIn, bytesOut uint64
	clients           [udpBatchClients]clientOctets
	nClients          int
}

// udpBatchClients is the distinct client networks one tally holds before
// it hands them to the shared table; a batch of recvmmsg holds no more.
const udpBatchClients = 32

func add(c prometheus.Counter, n uint64) {
	if n != 0 {
		c.Add(float64(n))
	}
}

// flush moves the counts into m and zeroes t.
func (t *tally) flush(m *Metrics) {
	add(m.queriesUDP, t.queries)
	add(m.cacheHits, t.hits)
	add(m.noerror, t.hits)
	add(m.cacheMisses, t.misses)
	add(m.refused, t.refused)
	add(m.respRefused, t.refused)
	add(m.notImp, t.notImp)
	add(m.respNotImp, t.notImp)
	add(m.formErr, t.formErr)
	add(m.respFormErr, t.formErr)
	add(m.dropped, t.dropped)
	add(m.overload, t.overload)
	add(m.waitLimited, t.waitLimited)
	add(m.servfailResponses, t.waitLimited)
	for v, n := range t.cookies {
		add(m.cookies[v], n)
	}
	add(m.rrlLimited, t.rrlLimited)
	add(m.rrlSlipped, t.rrlSlipped)
	add(m.rrlDropped, t.rrlDropped)
	add(m.udpBytesIn, t.bytesIn)
	add(m.udpBytesOut, t.bytesOut)
	t.flushClients(m)
	*t = tally{}
}
