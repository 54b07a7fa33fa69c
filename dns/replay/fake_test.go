package replay

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// fakeResolver is the smallest iterative resolver that exercises the
// runner: it walks referrals from the root hints using glue, chases
// CNAMEs, and caches positive and negative answers with TTLs counted down
// on the scenario clock. It exists only for the runner's own tests.
type fakeResolver struct {
	env Env

	mu    sync.Mutex
	cache map[cacheKey]*cacheItem
	sent  int // upstream queries of the current Resolve
}

// maxSent bounds the work of one Resolve: the recursion over referrals and
// server names can otherwise fan out on adversarial (fuzzed) scenarios.
const maxSent = 200

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheItem struct {
	rcode  int
	answer []dns.RR
	ns     []dns.RR
	stored time.Time
	ttl    uint32
}

func newFakeResolver(env Env) (Resolver, error) {
	if len(env.RootHints) == 0 {
		return nil, errors.New("fake resolver needs root hints")
	}
	return &fakeResolver{env: env, cache: make(map[cacheKey]*cacheItem)}, nil
}

var errLame = errors.New("fake resolver: no usable server")

func (f *fakeResolver) Resolve(ctx context.Context, q *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(q)
	resp.RecursionAvailable = true
	if len(q.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	qt := q.Question[0].Qtype
	name := q.Question[0].Name
	f.mu.Lock()
	f.sent = 0
	f.mu.Unlock()
	for hops := 0; hops < 8; hops++ {
		item, err := f.lookup(ctx, name, qt, 0)
		if err != nil {
			resp.Rcode = dns.RcodeServerFailure
			resp.Answer, resp.Ns = nil, nil
			return resp
		}
		now := f.env.Clock.Now()
		resp.Answer = append(resp.Answer, item.countdown(item.answer, now)...)
		if item.rcode != dns.RcodeSuccess || len(item.answer) == 0 {
			resp.Rcode = item.rcode
			resp.Ns = item.countdown(item.ns, now)
			return resp
		}
		next := chainEnd(item.answer, name, qt)
		if next == "" {
			return resp
		}
		name = next
	}
	resp.Rcode = dns.RcodeServerFailure
	return resp
}

// chainEnd follows the CNAMEs in rrs from name; it returns the name still
// to resolve, or "" when rrs answer the question.
func chainEnd(rrs []dns.RR, name string, qt uint16) string {
	cur := name
	for range len(rrs) + 1 {
		next := ""
		for _, rr := range rrs {
			if !strings.EqualFold(rr.Header().Name, cur) {
				continue
			}
			if rr.Header().Rrtype == qt {
				return ""
			}
			if c, ok := rr.(*dns.CNAME); ok {
				next = c.Target
			}
		}
		if next == "" {
			break
		}
		cur = next
	}
	if strings.EqualFold(cur, name) {
		return ""
	}
	return cur
}

func (it *cacheItem) countdown(rrs []dns.RR, now time.Time) []dns.RR {
	elapsed := uint32(now.Sub(it.stored) / time.Second)
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		if c.Header().Ttl > elapsed {
			c.Header().Ttl -= elapsed
		} else {
			c.Header().Ttl = 0
		}
		out[i] = c
	}
	return out
}

func (f *fakeResolver) lookup(ctx context.Context, name string, qt uint16, depth int) (*cacheItem, error) {
	key := cacheKey{strings.ToLower(name), qt}
	now := f.env.Clock.Now()
	f.mu.Lock()
	it := f.cache[key]
	f.mu.Unlock()
	if it != nil && now.Before(it.stored.Add(time.Duration(it.ttl)*time.Second)) {
		return it, nil
	}
	it, err := f.iterate(ctx, name, qt, depth)
	if err != nil {
		return nil, err
	}
	it.stored = now
	if it.ttl > 0 {
		f.mu.Lock()
		f.cache[key] = it
		f.mu.Unlock()
	}
	return it, nil
}

func (f *fakeResolver) iterate(ctx context.Context, name string, qt uint16, depth int) (*cacheItem, error) {
	if depth > 4 {
		return nil, errLame
	}
	servers := f.env.RootHints
	for range 12 {
		m, err := f.ask(ctx, servers, name, qt)
		if err != nil {
			return nil, err
		}
		switch {
		case m.Rcode == dns.RcodeNameError:
			return negative(m), nil
		case m.Rcode != dns.RcodeSuccess:
			return nil, errLame
		case len(m.Answer) > 0:
			it := &cacheItem{answer: m.Answer, ttl: ^uint32(0)}
			for _, rr := range m.Answer {
				it.ttl = min(it.ttl, rr.Header().Ttl)
			}
			return it, nil
		case !m.Authoritative && hasNS(m.Ns):
			next, err := f.delegation(ctx, m, depth)
			if err != nil {
				return nil, err
			}
			servers = next
		default:
			return negative(m), nil
		}
	}
	return nil, errLame
}

func negative(m *dns.Msg) *cacheItem {
	it := &cacheItem{rcode: m.Rcode}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			it.ns = []dns.RR{soa}
			it.ttl = min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return it
}

func hasNS(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeNS {
			return true
		}
	}
	return false
}

// delegation returns the addresses of the referral's servers, from glue or
// by resolving the server names.
func (f *fakeResolver) delegation(ctx context.Context, m *dns.Msg, depth int) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	var names []string
	for _, rr := range m.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		names = append(names, ns.Ns)
		for _, g := range m.Extra {
			if a, ok := g.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, ns.Ns) {
				addr, _ := netip.AddrFromSlice(a.A.To4())
				out = append(out, netip.AddrPortFrom(addr, 53))
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, n := range names {
		it, err := f.lookup(ctx, n, dns.TypeA, depth+1)
		if err != nil {
			continue
		}
		for _, rr := range it.answer {
			if a, ok := rr.(*dns.A); ok {
				addr, _ := netip.AddrFromSlice(a.A.To4())
				out = append(out, netip.AddrPortFrom(addr, 53))
			}
		}
	}
	if len(out) == 0 {
		return nil, errLame
	}
	return out, nil
}

// ask tries the servers in order; a time-out moves on to the next one.
func (f *fakeResolver) ask(ctx context.Context, servers []netip.AddrPort, name string, qt uint16) (*dns.Msg, error) {
	for _, s := range servers {
		f.mu.Lock()
		f.sent++
		over := f.sent > maxSent
		f.mu.Unlock()
		if over {
			return nil, errLame
		}
		q := new(dns.Msg)
		q.SetQuestion(name, qt)
		q.RecursionDesired = false
		m, err := f.env.Transport.Exchange(ctx, s, q, false)
		if err != nil {
			continue
		}
		if m.Id != q.Id || len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, name) {
			continue
		}
		return m, nil
	}
	return nil, errLame
}
