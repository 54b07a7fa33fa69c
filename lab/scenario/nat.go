package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/lab"
)

// The NAT of issue 9 in the lab: rampart in router mode on gw translates
// the inside prefix to gw's wan address and forwards a public port to an
// inside server; the outside hosts lose their route to the inside prefix,
// as they would on the Internet. The run checks what crossed: the outside
// sees only the wan address, unsolicited inbound traffic reaches nobody,
// the forward works from outside (the inside server sees the real client)
// and by hairpin from inside, and a real RFC 5780 client (pion's
// stun-nat-behaviour, against coturn on web with two addresses) reports
// the mapping and filtering behaviour.

// NATConfig is the gateway section's NAT for the lab: the inside prefix
// masqueraded to gw's wan address, and a port forward of 2222 to
// client2's port 22, as the example has it.
const NATConfig = `  nat:
    masquerade: [10.10.0.0/24]
    forwards:
      - {proto: tcp, port: 2222, to: "10.10.0.12:22"}
`

// NATPolicy lets the forward in, as a policy must (a forward is a
// destination NAT, not a permission).
const NATPolicy = GatewayPolicy + "allow in on wan to any port 2222 proto tcp\n"

// natWAN is gw's wan address, the public address of the lab's NAT;
// natInside the prefix it masquerades.
var (
	natWAN    = netip.MustParseAddr("203.0.113.1")
	natInside = netip.MustParsePrefix("10.10.0.0/24")
)

// UnrouteInside removes every route the topology gives a host to the
// inside IPv4 prefix, as the Internet has none to a NATed network: what
// reaches the inside then came through the translation.
func UnrouteInside(ctx context.Context, l *lab.Lab) error {
	for _, h := range l.Topo.Hosts {
		for _, r := range h.Routes {
			if r.Destination() != natInside {
				continue
			}
			if out, err := l.Host(h.Name).Run(ctx, "ip", "route", "del", natInside.String()); err != nil {
				return fmt.Errorf("%s: ip route del %s: %v: %s", h.Name, natInside, err, out)
			}
		}
	}
	return nil
}

// NATResult is what one run saw.
type NATResult struct {
	Err       error
	OutTCP    error      // client1 → web:7 over TCP, echoed whole
	OutUDP    error      // the same over UDP
	OutFrag   error      // a 1,900-byte UDP echo: fragments both ways, the answer's to the wan address
	Ping      PingResult // client1 pings web: its ICMP identifier mapped (RFC 5508)
	PingErr   error
	Leaked    int // packets on web's link with an inside address
	FromWAN   int // packets on web's link from the wan address to web
	Inbound   string
	Forward   error // web → wan:2222, echoed by client2
	FwdSawWeb int   // segments client2 got from web's own address on port 22
	Hairpin   error // client1 → wan:2222
	STUN      NATBehaviour
	STUNErr   error
	Listing   string // `rampart gateway nat`
	Metrics   map[string]float64
}

// FindSTUNClient returns the path of pion's stun-nat-behaviour: beside
// the rampart binary (where `make build` puts it), else on PATH.
func FindSTUNClient(rampart string) (string, error) {
	p := filepath.Join(filepath.Dir(rampart), "stun-nat-behaviour")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("stun-nat-behaviour"); err == nil {
		return p, nil
	}
	return "", errors.New("stun-nat-behaviour not found beside rampart or on PATH (make build builds it)")
}

// NAT is the demo's scenario. It turns gw into rampart's router for good
// (the kernel's addresses flushed, the outside hosts' routes to the inside
// prefix gone), so it runs last.
func NAT() lab.Scenario {
	return lab.Scenario{Name: "nat", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		client, err := FindSTUNClient(env.Rampart)
		r := RunNAT(ctx, l, env, client)
		if err != nil && r.STUNErr == nil {
			r.STUNErr = err
		}
		return r.LabResults("nat")
	}}
}

// RunNAT runs rampart in router mode with NATConfig on gw and checks what
// crosses; client is the stun-nat-behaviour binary ("" leaves the
// discovery out).
func RunNAT(ctx context.Context, l *lab.Lab, env *lab.Env, client string) (res NATResult) {
	dir, err := os.MkdirTemp(env.Dir, "nat-")
	if err != nil {
		res.Err = err
		return res
	}
	if err := UnrouteInside(ctx, l); err != nil {
		res.Err = err
		return res
	}
	webCap := filepath.Join(dir, "web.pcap")
	capture, err := l.Host("web").Capture("eth0", webCap)
	if err != nil {
		res.Err = err
		return res
	}
	c2Cap := filepath.Join(dir, "client2.pcap")
	c2capture, err := l.Host("client2").Capture("eth0", c2Cap)
	if err != nil {
		capture.Stop()
		res.Err = err
		return res
	}
	env.Logf("rampart in router mode on gw, masquerading 10.10.0.0/24 to %s, forwarding :2222 to 10.10.0.12:22", natWAN)
	g, err := StartRouter(ctx, l, env.Rampart, dir, NATPolicy, NATConfig)
	if err != nil {
		capture.Stop()
		c2capture.Stop()
		res.Err = err
		return res
	}
	defer g.Stop()
	for _, s := range []struct {
		host string
		port int
	}{{"web", 7}, {"client2", 22}} {
		stop, err := StartEcho(l.Host(s.host), s.port)
		if err != nil {
			res.Err = err
			return res
		}
		defer stop()
	}
	web := netip.AddrPortFrom(l.Addr("web", 4), 7)
	_, res.OutTCP = TCPEcho(ctx, l.Host("client1"), web, []byte("out through the NAT"))
	_, res.OutUDP = UDPEcho(ctx, l.Host("client1"), web, []byte("udp through the NAT"))
	_, res.OutFrag = UDPEcho(ctx, l.Host("client1"), web, bytes.Repeat([]byte("fragmented "), 173)[:1900])
	res.Ping, res.PingErr = Ping(ctx, l.Host("client1"), web.Addr(), 64, 2*time.Second)
	if client != "" {
		env.Logf("RFC 5780 behaviour discovery from client1 against coturn on web")
		if srv, err := StartSTUN(ctx, l, dir); err != nil {
			res.STUNErr = err
		} else {
			res.STUN, res.STUNErr = DiscoverNAT(ctx, l, "client1", client, srv.Primary)
			srv.Stop()
		}
	}
	res.Inbound = Connect(ctx, l.Host("web"), netip.AddrPortFrom(natWAN, 8080), 2*time.Second)
	fwd := netip.AddrPortFrom(natWAN, 2222)
	_, res.Forward = TCPEcho(ctx, l.Host("web"), fwd, []byte("in through the forward"))
	_, res.Hairpin = TCPEcho(ctx, l.Host("client1"), fwd, []byte("hairpin"))
	if out, err := exec.CommandContext(ctx, env.Rampart, "gateway", "nat", "--control", g.Control).CombinedOutput(); err != nil {
		res.Listing = fmt.Sprintf("rampart gateway nat: %v: %s", err, out)
	} else {
		res.Listing = string(out)
	}
	res.Metrics, _ = g.Metrics()

	time.Sleep(50 * time.Millisecond)
	capture.Stop()
	c2capture.Stop()
	web4 := l.Addr("web", 4)
	inside := natInside
	if pkts, err := lab.ReadPcap(webCap); err == nil {
		for _, p := range pkts {
			ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if !ok {
				continue
			}
			src, _ := netip.AddrFromSlice(ip.SrcIP)
			dst, _ := netip.AddrFromSlice(ip.DstIP)
			if inside.Contains(src) || inside.Contains(dst) {
				res.Leaked++
			}
			if src == natWAN && dst == web4 {
				res.FromWAN++
			}
		}
	} else {
		res.Err = err
	}
	if pkts, err := lab.ReadPcap(c2Cap); err == nil {
		for _, p := range pkts {
			tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			ip, ok4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if ok && ok4 && tcp.DstPort == 22 {
				if src, _ := netip.AddrFromSlice(ip.SrcIP); src == web4 {
					res.FwdSawWeb++
				}
			}
		}
	} else {
		res.Err = err
	}
	return res
}

// LabResults are the run's lines of the demo report.
func (r NATResult) LabResults(scenario string) []lab.Result {
	if r.Err != nil {
		res := lab.Result{Scenario: scenario, Kind: lab.Check, Tried: "rampart as gw's router with NAT"}
		inconclusive(&res, r.Err.Error())
		return []lab.Result{res}
	}
	errText := func(err error, ok string) string {
		if err != nil {
			return "FAILED: " + err.Error()
		}
		return ok
	}
	out := []lab.Result{{
		Scenario: scenario, Kind: lab.Check,
		Tried:   "client1 → web, TCP and UDP echo, through the NAT; web's link captured",
		Defence: "masquerade 10.10.0.0/24 to " + natWAN.String(),
		OK:      r.OutTCP == nil && r.OutUDP == nil && r.Leaked == 0 && r.FromWAN > 0,
		Outcome: errText(errors.Join(r.OutTCP, r.OutUDP), fmt.Sprintf("echoed; web's link: %d packets from %s, %d with an inside address", r.FromWAN, natWAN, r.Leaked)),
	}, {
		Scenario: scenario, Kind: lab.Check,
		Tried:   "client1 → web, a 1,900-byte UDP echo: fragmented both ways",
		Defence: "fragments reassembled and judged whole, translated alike",
		OK:      r.OutFrag == nil,
		Outcome: errText(r.OutFrag, "echoed"),
	}, {
		Scenario: scenario, Kind: lab.Check,
		Tried:   "client1 pings web through the NAT",
		Defence: "ICMP query identifiers mapped (RFC 5508 REQ-1)",
		OK:      r.PingErr == nil && r.Ping.Kind == "reply",
		Outcome: errText(r.PingErr, r.Ping.String()),
	}, {
		Scenario: scenario, Kind: lab.Defence,
		Tried:   fmt.Sprintf("web connects to %s:8080, unsolicited", natWAN),
		Defence: "no mapping is made by an inbound packet (RFC 4787 REQ-8)",
		OK:      r.Inbound != "connected",
		Outcome: r.Inbound,
	}, {
		Scenario: scenario, Kind: lab.Check,
		Tried:   fmt.Sprintf("web → %s:2222, forwarded to client2:22", natWAN),
		Defence: "port forward (destination NAT), allowed by the policy",
		OK:      r.Forward == nil && r.FwdSawWeb > 0,
		Outcome: errText(r.Forward, fmt.Sprintf("echoed; client2 saw web's own address in %d segments", r.FwdSawWeb)),
	}, {
		Scenario: scenario, Kind: lab.Check,
		Tried:   fmt.Sprintf("client1 → %s:2222 (hairpin)", natWAN),
		Defence: "hairpinning (RFC 4787 REQ-9)",
		OK:      r.Hairpin == nil,
		Outcome: errText(r.Hairpin, "echoed"),
	}}
	stun := lab.Result{Scenario: scenario, Kind: lab.Check,
		Tried:   "pion's stun-nat-behaviour from client1 against coturn on web (RFC 5780)",
		Defence: "endpoint-independent mapping, address-and-port-dependent filtering",
	}
	switch {
	case r.STUNErr != nil:
		inconclusive(&stun, r.STUNErr.Error())
	default:
		stun.Outcome = fmt.Sprintf("mapped to %s; mapping %s, filtering %s", r.STUN.Mapped, r.STUN.Mapping, r.STUN.Filtering)
		stun.OK = r.STUN.Mapped.Addr() == natWAN && r.STUN.Mapping == "endpoint independent" && r.STUN.Filtering == "address and port dependent"
	}
	out = append(out, stun)
	for i := range out {
		if strings.HasPrefix(out[i].Outcome, "FAILED") {
			out[i].OK = false
		}
	}
	return out
}
