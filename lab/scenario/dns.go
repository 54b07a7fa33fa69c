package scenario

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/rampart-fw/rampart/dns/authoritative"
	"github.com/rampart-fw/rampart/lab"
)

//go:embed zones
var zoneFiles embed.FS

// DNSHierarchy is the lab's DNS: authoritative servers for the root, lab.
// and the example zones on the outside hosts, and rampart's resolver on the
// inside dns host, all run from the rampart binary.
type DNSHierarchy struct {
	Resolver4, Resolver6 netip.AddrPort
	Control              string // the resolver's control socket
	Dir                  string
	// Anchor is the trust anchor file (the root's DS) when the hierarchy
	// is signed.
	Anchor string
	procs  []*lab.Proc
}

// authServers says which host serves which zones.
var authServers = []struct {
	host  string
	zones []string
}{
	{"root", []string{"root.zone"}},
	{"tld", []string{"lab.zone"}},
	{"auth", []string{"example.lab.zone", "shop.lab.zone", "lame.lab.zone", "lame2.lab.zone", "bench.lab.zone"}},
}

// WriteZones copies the lab's zone files and root hints into dir.
func WriteZones(dir string) error {
	ents, err := zoneFiles.ReadDir("zones")
	if err != nil {
		return err
	}
	for _, e := range ents {
		b, err := zoneFiles.ReadFile("zones/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// signedChain lists the zones the lab signs, the child first: each
// child's DS goes into its parent before the parent is signed.
var signedChain = []struct{ file, origin string }{
	{"example.lab.zone", "example.lab."},
	{"lab.zone", "lab."},
	{"root.zone", "."},
}

// SignHierarchy signs example.lab., lab. and the root in dir with fresh keys
// (ECDSA P-256, algorithm 13), puts each child's DS in its parent, and
// writes the root's DS to the trust anchor file it returns. The other lab
// zones stay unsigned: lab.'s NSEC records prove their delegations insecure.
func SignHierarchy(dir string, now time.Time) (anchor string, err error) {
	var childDS []dns.RR
	for _, zf := range signedChain {
		path := filepath.Join(dir, zf.file)
		z, err := authoritative.LoadZone(path, zf.origin)
		if err != nil {
			return "", err
		}
		if childDS != nil {
			if z, err = authoritative.NewZone(zf.origin, path, append(z.Records(), childDS...)); err != nil {
				return "", err
			}
		}
		k, err := authoritative.GenerateKey(zf.origin, dns.ECDSAP256SHA256, true)
		if err != nil {
			return "", err
		}
		if err := authoritative.SignZone(z, []*authoritative.Key{k}, now.Add(-time.Hour), now.Add(30*24*time.Hour), nil); err != nil {
			return "", fmt.Errorf("sign %s: %w", zf.origin, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return "", err
		}
		_, err = z.WriteTo(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		childDS = []dns.RR{k.DS(dns.SHA256)}
	}
	anchor = filepath.Join(dir, "root.anchor")
	return anchor, os.WriteFile(anchor, []byte(childDS[0].String()+"\n"), 0o600)
}

// StartDNS starts the hierarchy and the resolver (with extra resolver
// flags) and waits until each answers. The root, lab. and example.lab. are
// DNSSEC-signed with keys made for this run, and the resolver validates
// from the root's DS, unless resolverFlags turn DNSSEC off. Stop ends them.
func StartDNS(ctx context.Context, l *lab.Lab, rampart, dir string, resolverFlags ...string) (*DNSHierarchy, error) {
	if err := WriteZones(dir); err != nil {
		return nil, err
	}
	d := &DNSHierarchy{Dir: dir, Control: filepath.Join(dir, "resolver.sock")}
	if !slices.Contains(resolverFlags, "off") {
		anchor, err := SignHierarchy(dir, time.Now())
		if err != nil {
			return nil, fmt.Errorf("sign the lab zones: %w", err)
		}
		d.Anchor = anchor
		resolverFlags = append([]string{"--dnssec", "on", "--trust-anchor", anchor}, resolverFlags...)
	}
	for _, s := range authServers {
		args := []string{rampart, "--log-format", "json", "authoritative"}
		for _, fam := range []int{4, 6} {
			args = append(args, "--listen", netip.AddrPortFrom(l.Addr(s.host, fam), 53).String())
		}
		for _, z := range s.zones {
			args = append(args, "--zone", filepath.Join(dir, z))
		}
		p, err := l.Host(s.host).Start("authoritative", args...)
		if err != nil {
			d.Stop()
			return nil, err
		}
		d.procs = append(d.procs, p)
		if err := waitDNS(ctx, l.Host(s.host), netip.AddrPortFrom(l.Addr(s.host, 4), 53), p); err != nil {
			d.Stop()
			return nil, fmt.Errorf("authoritative server on %s: %w", s.host, err)
		}
	}
	d.Resolver4 = netip.AddrPortFrom(l.Addr("dns", 4), 53)
	d.Resolver6 = netip.AddrPortFrom(l.Addr("dns", 6), 53)
	args := []string{rampart, "--log-format", "json", "--log-level", "debug", "resolver",
		"--listen", d.Resolver4.String(), "--listen", d.Resolver6.String(),
		"--allow", "10.10.0.0/24", "--allow", "fd00:10::/64", "--allow", "127.0.0.0/8",
		"--root-hints", filepath.Join(dir, "root.hints"), "--control", d.Control}
	args = append(args, resolverFlags...)
	p, err := l.Host("dns").Start("resolver", args...)
	if err != nil {
		d.Stop()
		return nil, err
	}
	d.procs = append(d.procs, p)
	if err := waitDNS(ctx, l.Host("dns"), d.Resolver4, p); err != nil {
		d.Stop()
		return nil, fmt.Errorf("resolver: %w", err)
	}
	return d, nil
}

// Stop ends every server.
func (d *DNSHierarchy) Stop() {
	for _, p := range d.procs {
		p.Stop()
	}
}

// ResolverLog returns what the resolver logged.
func (d *DNSHierarchy) ResolverLog() string {
	for _, p := range d.procs {
		if p.Name == "resolver" {
			return p.Output()
		}
	}
	return ""
}

// waitDNS polls server from host h with a query for "." SOA until any
// answer comes back, the process dies, or five seconds pass.
func waitDNS(ctx context.Context, h *lab.Node, server netip.AddrPort, p *lab.Proc) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.Done():
			return fmt.Errorf("exited: %v: %s", p.Err(), strings.TrimSpace(p.Output()))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		q := new(dns.Msg)
		q.SetQuestion(".", dns.TypeNS)
		q.RecursionDesired = false
		if _, _, err := Query(h, server, q, false, 200*time.Millisecond); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("no answer within 5s: " + strings.TrimSpace(p.Output()))
}

// Query sends q from host h to server over UDP (or TCP) and returns the
// response and the round-trip time.
func Query(h *lab.Node, server netip.AddrPort, q *dns.Msg, tcp bool, timeout time.Duration) (*dns.Msg, time.Duration, error) {
	var c net.Conn
	network := "udp"
	if tcp {
		network = "tcp"
	}
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout(network, server.String(), timeout)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	conn := &dns.Conn{Conn: c, UDPSize: 65535}
	_ = c.SetDeadline(time.Now().Add(timeout))
	start := time.Now()
	if err := conn.WriteMsg(q); err != nil {
		return nil, 0, err
	}
	for {
		r, err := conn.ReadMsg()
		if err != nil {
			return nil, 0, err
		}
		if r.Id == q.Id {
			return r, time.Since(start), nil
		}
	}
}

// Ask is Query for a name and type with recursion desired and EDNS0.
func Ask(h *lab.Node, server netip.AddrPort, name string, qtype uint16, tcp bool) (*dns.Msg, time.Duration, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(1232, false)
	return Query(h, server, q, tcp, 5*time.Second)
}

// DNS is the demo's DNS scenario: a cold and a cached lookup through the
// lab hierarchy, and the resolver refusing a client outside its ACL.
func DNS() lab.Scenario { return lab.Scenario{Name: "dns", Run: runDNS} }

func runDNS(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
	const name = "dns"
	fail := func(tried string, err error) []lab.Result {
		return []lab.Result{{Scenario: name, Tried: tried, Defence: "-", Outcome: err.Error()}}
	}
	dir := filepath.Join(env.Dir, "dns")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("prepare zones", err)
	}
	d, err := StartDNS(ctx, l, env.Rampart, dir)
	if err != nil {
		return fail("start the DNS hierarchy and resolver", err)
	}
	defer d.Stop()
	env.Logf("authoritative servers on root, tld, auth; resolver on dns (%s)", d.Resolver4)
	client := l.Host("client1")
	var results []lab.Result
	r := lab.Result{Scenario: name, Tried: "cold lookup www.example.lab A from client1", Defence: "resolver walks root → lab. → example.lab."}
	cold, rttCold, err := Ask(client, d.Resolver4, "www.example.lab", dns.TypeA, false)
	switch {
	case err != nil:
		r.Outcome = err.Error()
	case cold.Rcode != dns.RcodeSuccess || len(cold.Answer) == 0:
		r.Outcome = fmt.Sprintf("rcode %s, %d answers", dns.RcodeToString[cold.Rcode], len(cold.Answer))
	default:
		r.OK = true
		r.Outcome = fmt.Sprintf("%s in %s", rdata(cold.Answer[0]), rttCold.Round(time.Microsecond))
	}
	results = append(results, r)
	env.Logf("cold: %s", r.Outcome)
	r = lab.Result{Scenario: name, Tried: "cached lookup of the same name", Defence: "answer from the wire-form cache"}
	warm, rttWarm, err := Ask(client, d.Resolver4, "www.example.lab", dns.TypeA, false)
	switch {
	case err != nil:
		r.Outcome = err.Error()
	case warm.Rcode != dns.RcodeSuccess || len(warm.Answer) == 0:
		r.Outcome = fmt.Sprintf("rcode %s", dns.RcodeToString[warm.Rcode])
	default:
		r.OK = rdata(warm.Answer[0]) == rdata(cold.Answer[0]) && warm.Answer[0].Header().Ttl <= cold.Answer[0].Header().Ttl
		r.Outcome = fmt.Sprintf("%s in %s (TTL %d, was %d)", rdata(warm.Answer[0]), rttWarm.Round(time.Microsecond), warm.Answer[0].Header().Ttl, cold.Answer[0].Header().Ttl)
	}
	results = append(results, r)
	env.Logf("cached: %s", r.Outcome)
	r = lab.Result{Scenario: name, Tried: "validated lookup www.example.lab A (DO set)", Defence: "DNSSEC chain from the lab root's DS"}
	q := new(dns.Msg)
	q.SetQuestion("www.example.lab.", dns.TypeA)
	q.SetEdns0(1232, true)
	if sec, _, err := Query(client, d.Resolver4, q, false, 5*time.Second); err != nil {
		r.Outcome = err.Error()
	} else {
		r.OK = sec.Rcode == dns.RcodeSuccess && sec.AuthenticatedData
		r.Outcome = fmt.Sprintf("%s, AD=%v", dns.RcodeToString[sec.Rcode], sec.AuthenticatedData)
	}
	results = append(results, r)
	env.Logf("validated: %s", r.Outcome)
	r = lab.Result{Scenario: name, Kind: lab.Defence, Tried: "attacker uses the resolver (open resolver?)", Defence: "ACL: inside networks only"}
	ref, _, err := Ask(l.Host("attacker"), d.Resolver4, "www.example.lab", dns.TypeA, false)
	switch {
	case err != nil:
		r.Outcome = err.Error()
	default:
		r.OK = ref.Rcode == dns.RcodeRefused && len(ref.Answer) == 0
		r.Outcome = fmt.Sprintf("answered %s with %d records", dns.RcodeToString[ref.Rcode], len(ref.Answer))
	}
	results = append(results, r)
	env.Logf("attacker: %s", r.Outcome)
	return results
}

func rdata(rr dns.RR) string {
	s := rr.String()
	f := strings.Fields(s)
	return f[len(f)-1]
}
