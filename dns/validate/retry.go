package validate

import (
	"context"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/dns/dnssec"
)

// Retrier is an Inner that can try again for data that failed validation,
// as Unbound's validator restarts its iterator with the offending servers
// left out, rather than leaving the bogus data in the cache, where the
// inner resolver put it before anyone validated it, to be the answer (and
// the SERVFAIL) for its whole TTL. dns/resolver's Resolver is one.
//
// bogus holds the data found bogus, one group of records per failure: an
// RRset with its RRSIGs, or the authority section of a negative answer.
// The inner resolver marks the cached entries that hold exactly a group
// as bogus, to live keep at most, below every other rank and unused; Retry
// then resolves the name again, passing over the servers that send a group
// again (the last resort when every server does); Distrust only marks,
// when the validator gives up.
type Retrier interface {
	Retry(ctx context.Context, qname string, qtype, qclass uint16, do bool, bogus [][]dns.RR, keep time.Duration) (*dns.Msg, error)
	Distrust(qname string, qtype, qclass uint16, bogus [][]dns.RR, keep time.Duration)
}

// blame records the records a validation found bogus, unless an earlier
// failure of the same response was recorded: the group a retry avoids.
func (q *query) blame(group []dns.RR) {
	if q.blamed == nil {
		q.blamed = group
	}
}

// keep is how long the inner resolver keeps bogus data: Config.BogusTTL,
// and a second when bogus results are not remembered.
func (q *query) keep() time.Duration {
	return max(q.r.cfg.BogusTTL, time.Second)
}

// again resolves name/qtype again after its data failed validation, for as
// long as the inner resolver can retry, the query's retries last
// (Config.MaxRetries) and each try fails on data not seen before. judge
// validates a response: it returns the result and leaves what it blames in
// q.blamed. m and r are the response and result that failed, and the
// response and result returned are the last ones; when they are still
// Bogus, the inner resolver is told to distrust everything seen.
func (q *query) again(name string, qtype uint16, m *dns.Msg, r dnssec.Result, judge func(*dns.Msg) dnssec.Result) (*dns.Msg, dnssec.Result) {
	rt, ok := q.r.inner.(Retrier)
	if !ok || q.blamed == nil {
		q.blamed = nil
		return m, r
	}
	var seen [][]dns.RR
	for r.Status == dnssec.Bogus {
		g := q.blamed
		q.blamed = nil
		if g == nil || seenGroup(seen, g) {
			break
		}
		seen = append(seen, g)
		if q.retries >= q.r.cfg.MaxRetries {
			break
		}
		q.retries++
		q.r.stats.retries.Add(1)
		next, err := rt.Retry(q.ctx, name, qtype, dns.ClassINET, true, seen, q.keep())
		if err != nil || next == nil || next.Rcode != dns.RcodeSuccess && next.Rcode != dns.RcodeNameError {
			break
		}
		next.AuthenticatedData = false
		nr := judge(next)
		m, r = next, nr
	}
	q.blamed = nil
	if r.Status == dnssec.Bogus {
		rt.Distrust(name, qtype, dns.ClassINET, seen, q.keep())
	}
	return m, r
}

// seenGroup reports whether seen holds g: the same records, TTLs aside.
func seenGroup(seen [][]dns.RR, g []dns.RR) bool {
	for _, s := range seen {
		if len(s) != len(g) {
			continue
		}
		same := true
		for _, a := range g {
			found := false
			for _, b := range s {
				if dns.IsDuplicate(a, b) {
					found = true
					break
				}
			}
			if !found {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}
