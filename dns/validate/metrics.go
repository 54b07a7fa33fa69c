package validate

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descResults = prometheus.NewDesc("rampart_dns_validation_total",
		"Answers by DNSSEC validation result (unchecked: the client set CD).", []string{"result"}, nil)
	descEDE = prometheus.NewDesc("rampart_dns_validation_failures_total",
		"Answers that were not secure, by RFC 8914 Extended DNS Error code.", []string{"ede"}, nil)
	descKeyEntries = prometheus.NewDesc("rampart_dns_validation_key_cache_entries",
		"Zones and chain findings in the key cache.", nil, nil)
	descKeyEvictions = prometheus.NewDesc("rampart_dns_validation_key_cache_evictions_total",
		"Key cache entries evicted for room.", nil, nil)
	descFetches = prometheus.NewDesc("rampart_dns_validation_fetches_total",
		"DS, DNSKEY and wildcard-proof queries sent to the inner resolver.", nil, nil)
	descLimited = prometheus.NewDesc("rampart_dns_validation_fetch_limited_total",
		"Client queries stopped by the fetch or chain depth limit.", nil, nil)
	descRetries = prometheus.NewDesc("rampart_dns_validation_retries_total",
		"Answers and DS/DNSKEY RRsets asked for again after they failed validation.", nil, nil)
	descRemembered = prometheus.NewDesc("rampart_dns_validation_bogus_remembered_total",
		"Queries answered SERVFAIL from an answer found bogus moments before.", nil, nil)
)

// Collector returns a prometheus.Collector of the resolver's counters.
func (r *Resolver) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Resolver }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descResults, descEDE, descKeyEntries, descKeyEvictions, descFetches, descLimited, descRetries, descRemembered} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	for _, v := range []struct {
		name string
		n    uint64
	}{{"secure", s.Secure}, {"insecure", s.Insecure}, {"bogus", s.Bogus}, {"indeterminate", s.Indeterminate}, {"unchecked", s.Unchecked}} {
		ch <- prometheus.MustNewConstMetric(descResults, prometheus.CounterValue, float64(v.n), v.name)
	}
	for code, n := range s.ByEDE {
		ch <- prometheus.MustNewConstMetric(descEDE, prometheus.CounterValue, float64(n), strconv.Itoa(int(code)))
	}
	ch <- prometheus.MustNewConstMetric(descKeyEntries, prometheus.GaugeValue, float64(s.KeyCacheEntries))
	ch <- prometheus.MustNewConstMetric(descKeyEvictions, prometheus.CounterValue, float64(s.KeyCacheEvictions))
	ch <- prometheus.MustNewConstMetric(descFetches, prometheus.CounterValue, float64(s.Fetches))
	ch <- prometheus.MustNewConstMetric(descLimited, prometheus.CounterValue, float64(s.FetchLimited))
	ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.Retries))
	ch <- prometheus.MustNewConstMetric(descRemembered, prometheus.CounterValue, float64(s.BogusRemembered))
}
