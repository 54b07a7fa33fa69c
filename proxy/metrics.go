package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What blocked a request, for rampart_proxy_blocked_total.
const (
	blockHost = iota
	blockURL
	blockList
	blockMethod
	blockRule
	blockContent
	blockSNI
	blockPort
	blockLocal
	numBlock
)

var blockLabels = [numBlock]string{"host", "url", "list", "method", "rule", "content", "sni", "port", "to_localhost"}

// blockKind maps a rule's name to its label.
func blockKind(rule string) int {
	switch {
	case strings.HasPrefix(rule, "rules["):
		return blockRule
	case strings.Contains(rule, ".hosts:"):
		return blockHost
	case strings.Contains(rule, ".urls:"):
		return blockURL
	case strings.Contains(rule, ".lists:"):
		return blockList
	case strings.Contains(rule, ".methods:"):
		return blockMethod
	}
	return blockRule
}

// Why a connection was refused before any request was read.
const (
	refusedACL = iota
	refusedLimit
	numRefused
)

var refusedLabels = [numRefused]string{"allow_clients", "per_client_limit"}

// The bad requests, by reason.
var badLabels = []string{"header_too_large", "too_many_fields", "smuggling", "obs_fold", "malformed", "header_timeout"}

// metrics are the proxy's counters, read by the collector without locks.
type metrics struct {
	via, viaToken string // this proxy's Via value, and the token that detects loops

	open        atomic.Int64
	refused     [numRefused]atomic.Uint64
	blocked     [numBlock]atomic.Uint64
	bad         map[string]*atomic.Uint64 // fixed keys: badLabels
	upstreamErr map[string]*atomic.Uint64 // fixed keys: upstreamLabels
	stripped    atomic.Uint64
	hits        atomic.Uint64
	revalidated atomic.Uint64
	stored      atomic.Uint64

	requests *prometheus.CounterVec
	duration prometheus.Histogram
	bytes    prometheus.Counter
}

func (m *metrics) init() {
	var id [4]byte
	rand.Read(id[:])
	m.viaToken = "rampart-" + hex.EncodeToString(id[:])
	m.via = "1.1 " + m.viaToken
	m.bad = map[string]*atomic.Uint64{}
	for _, l := range badLabels {
		m.bad[l] = new(atomic.Uint64)
	}
	m.upstreamErr = map[string]*atomic.Uint64{}
	for _, l := range upstreamLabels {
		m.upstreamErr[l] = new(atomic.Uint64)
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_proxy_requests_total",
		Help: "Requests answered, by Squid's result code (TCP_MISS, TCP_MEM_HIT, TCP_REFRESH_UNMODIFIED, TCP_DENIED, TCP_TUNNEL, ...) and status class."}, []string{"action", "class"})
	m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rampart_proxy_request_duration_seconds",
		Help: "Time from a request's arrival to the end of its answer.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_proxy_response_bytes_total", Help: "Bytes written to clients."})
}

var classLabels = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

func (m *metrics) count(r *record, now time.Time) {
	class := "0xx"
	if c := r.status / 100; c > 0 && c < len(classLabels) {
		class = classLabels[c]
	}
	m.requests.WithLabelValues(orDash(r.action), class).Inc()
	m.duration.Observe(now.Sub(r.start).Seconds())
	m.bytes.Add(float64(r.bytes))
}

var (
	openDesc     = prometheus.NewDesc("rampart_proxy_connections", "Client connections open.", nil, nil)
	refusedDesc  = prometheus.NewDesc("rampart_proxy_connections_refused_total", "Client connections refused before a request was read, by reason.", []string{"reason"}, nil)
	blockedDesc  = prometheus.NewDesc("rampart_proxy_blocked_total", "Requests and responses blocked, by what blocked them.", []string{"by"}, nil)
	badDesc      = prometheus.NewDesc("rampart_proxy_bad_requests_total", "Requests refused as malformed or dangerous, by reason.", []string{"reason"}, nil)
	upErrDesc    = prometheus.NewDesc("rampart_proxy_upstream_errors_total", "Failures to get a response from a server, by kind.", []string{"kind"}, nil)
	strippedDesc = prometheus.NewDesc("rampart_proxy_scripts_stripped_total", "Script elements removed by the content filter.", nil, nil)
	hitsDesc     = prometheus.NewDesc("rampart_proxy_cache_hits_total", "Requests answered from the cache, revalidated ones included.", nil, nil)
	revalDesc    = prometheus.NewDesc("rampart_proxy_cache_revalidated_total", "Stale entries a server confirmed with 304 Not Modified.", nil, nil)
	storedDesc   = prometheus.NewDesc("rampart_proxy_cache_stores_total", "Responses stored in the cache.", nil, nil)
	cacheEntDesc = prometheus.NewDesc("rampart_proxy_cache_entries", "Responses in the cache.", nil, nil)
	cacheByDesc  = prometheus.NewDesc("rampart_proxy_cache_bytes", "Memory the cache's entries take.", nil, nil)
	evictDesc    = prometheus.NewDesc("rampart_proxy_cache_evictions_total", "Entries evicted for memory.", nil, nil)
	leavesDesc   = prometheus.NewDesc("rampart_proxy_tls_leaf_certificates_issued_total", "Leaf certificates the local CA issued for intercepted hosts.", nil, nil)
)

// Collector exports the proxy's metrics.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Server }

// Describe sends nothing: the collector is unchecked, because what it
// exports (the cache's and the CA's figures) depends on the
// configuration in force.
func (c collector) Describe(ch chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := &c.s.m
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(openDesc, float64(m.open.Load()))
	for i, l := range refusedLabels {
		counter(refusedDesc, m.refused[i].Load(), l)
	}
	for i, l := range blockLabels {
		counter(blockedDesc, m.blocked[i].Load(), l)
	}
	for _, l := range badLabels {
		counter(badDesc, m.bad[l].Load(), l)
	}
	for _, l := range upstreamLabels {
		counter(upErrDesc, m.upstreamErr[l].Load(), l)
	}
	counter(strippedDesc, m.stripped.Load())
	counter(hitsDesc, m.hits.Load())
	counter(revalDesc, m.revalidated.Load())
	counter(storedDesc, m.stored.Load())
	if c.s.cache != nil {
		st := c.s.cache.Stats()
		gauge(cacheEntDesc, float64(st.Entries))
		gauge(cacheByDesc, float64(st.Bytes))
		counter(evictDesc, st.Evictions)
	}
	if a := c.s.cur.Load().cfg.CA; a != nil {
		counter(leavesDesc, a.Stats().Issued)
	}
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.bytes.Collect(ch)
}
