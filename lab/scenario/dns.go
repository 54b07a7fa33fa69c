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
	"strings"
	"time"

	"github.com/miekg/dns"
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
	procs                []*lab.Proc
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

// StartDNS starts the hierarchy and the resolver (with extra resolver
// flags) and waits until each answers. Stop ends them.
func StartDNS(ctx context.Context, l *lab.Lab, rampart, dir string, resolverFlags ...string) (*DNSHierarchy, error) {
	if err := WriteZones(dir); err != nil {
		return nil, err
	}
	d := &DNSHierarchy{Dir: dir, Control: filepath.Join(dir, "resolver.sock")}
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
	r = lab.Result{Scenario: name, Tried: "attacker uses the resolver (open resolver?)", Defence: "ACL: inside networks only"}
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
