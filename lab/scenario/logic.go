package scenario

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/packet"
)

// The logic attacks of issue 10 against the inside server client2, sent
// from the attacker host through the outside router: a source spoofed as
// an inside host, LAND, ping of death and teardrop. Each is sent twice:
// through the lab's plain kernel bridge on fw (no defence: the attack
// reaches its target), and through rampart's gateway with a policy that
// allows everything in to client2, so that what stops the attack is the
// guard and not the policy. What reached client2 is read from a capture
// on its interface; what the guard dropped from its counters.

// LogicAttack is one attack's outcome in both runs.
type LogicAttack struct {
	// Key is the attack's short name: spoof, land, pod, teardrop.
	Key  string
	Name string
	// Reason is the guard's counter that must grow:
	// rampart_gateway_guard_drops_total{reason}.
	Reason string
	// Sent is the packets (fragments) of one run.
	Sent int
	// Bridge and Gateway are what reached client2 through each.
	Bridge, Gateway int
	// Dropped is the growth of the guard's counter in the gateway run.
	Dropped float64
}

// LogicResult is the scenario's outcome.
type LogicResult struct {
	Attacks []LogicAttack
	// Legitimate is an echo from web to client2 through the gateway
	// after the attacks.
	Legitimate error
	Err        error
}

// LogicPolicy lets everything in to client2: the guard alone must stop
// the attacks.
const LogicPolicy = `default deny incoming
default allow outgoing
allow in on wan to 10.10.0.12
`

// logicMarker is in every attack's payload, so that the capture tells the
// attack's packets from the lab's other traffic.
var logicMarker = []byte("rampart-logic-attack")

// logicAttack is one attack's packets.
type logicAttack struct {
	key, name, reason string
	pkts              [][]byte
}

// logicAttacks builds the packets of each attack.
func logicAttacks(l *lab.Lab) ([]logicAttack, error) {
	target := l.Addr("client2", 4)
	payload := func(n int) []byte {
		b := make([]byte, n)
		for i := 0; i+len(logicMarker) <= n; i += len(logicMarker) {
			copy(b[i:], logicMarker)
		}
		return b
	}
	type attack = logicAttack
	var out []attack
	// A source spoofed as an inside host, from outside.
	spoof, err := lab.Spec{Src: l.Addr("client1", 4), Dst: target, Proto: layers.IPProtocolUDP, SrcPort: 5353, DstPort: 9999, Payload: payload(64)}.Build()
	if err != nil {
		return nil, err
	}
	out = append(out, attack{"spoof", "spoof: an inside source from outside", "inside_source", [][]byte{spoof}})
	// LAND: source equal to the destination, ports too.
	land, err := lab.Spec{Src: target, Dst: target, Proto: layers.IPProtocolTCP, SrcPort: 80, DstPort: 80, Flags: packet.TCPSYN, Seq: 1, Payload: payload(40)}.Build()
	if err != nil {
		return nil, err
	}
	out = append(out, attack{"land", "land: a SYN from the server to itself", "land", [][]byte{land}})
	// Ping of death: an echo request whose fragments reach past 65,535
	// bytes.
	echo, err := lab.Spec{Src: l.Addr("attacker", 4), Dst: target, Proto: layers.IPProtocolICMPv4, ICMPType: 8, ICMPID: 7, ICMPSeq: 1, Payload: payload(1400)}.Build()
	if err != nil {
		return nil, err
	}
	var pod []lab.Fragment
	for off := 0; off < 65536; off += 1480 {
		pod = append(pod, lab.Fragment{Offset: off, Length: 1480, Data: payload(1480)})
	}
	pod[0].Data = nil
	pod[0].Length = len(echo) - 20
	pod[len(pod)-1].Last = true
	podPkts, err := lab.FragmentPacket(echo, pod)
	if err != nil {
		return nil, fmt.Errorf("ping of death: %w", err)
	}
	out = append(out, attack{"pod", "ping of death: an echo request reassembling past 65,535 bytes", "ping_of_death", podPkts})
	// Teardrop: the second fragment starts inside the first.
	udp, err := lab.Spec{Src: l.Addr("attacker", 4), Dst: target, Proto: layers.IPProtocolUDP, SrcPort: 5353, DstPort: 9999, ID: 4242, Payload: payload(200)}.Build()
	if err != nil {
		return nil, err
	}
	tear, err := lab.FragmentPacket(udp, []lab.Fragment{{Offset: 0, Length: 48}, {Offset: 24, Length: 184, Last: true}})
	if err != nil {
		return nil, fmt.Errorf("teardrop: %w", err)
	}
	out = append(out, attack{"teardrop", "teardrop: overlapping fragments", "overlapping_fragments", tear})
	return out, nil
}

// LogicAttackKeys are the attacks' short names, in the order they run.
var LogicAttackKeys = []string{"spoof", "land", "pod", "teardrop"}

// RunLogic sends each attack named in only (every one when only is
// empty) through the kernel bridge, then through the gateway, and checks
// a legitimate connection afterwards.
func RunLogic(ctx context.Context, l *lab.Lab, env *lab.Env, only ...string) (res LogicResult) {
	dir := filepath.Join(env.Dir, "logic")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Err = err
		return res
	}
	attacks, err := logicAttacks(l)
	if err != nil {
		res.Err = err
		return res
	}
	if len(only) > 0 {
		attacks = slices.DeleteFunc(attacks, func(a logicAttack) bool { return !slices.Contains(only, a.key) })
	}
	attacker, target := l.Host("attacker"), l.Host("client2")
	// send sends one attack and returns how many of its packets reached
	// client2.
	send := func(tag string, pkts [][]byte) (int, error) {
		pcap := filepath.Join(dir, tag+".pcap")
		c, err := target.Capture("eth0", pcap)
		if err != nil {
			return 0, err
		}
		err = attacker.SendRaw(pkts...)
		time.Sleep(300 * time.Millisecond)
		if _, serr := c.Stop(); err == nil {
			err = serr
		}
		if err != nil {
			return 0, err
		}
		return countMarked(pcap, target.Name, l.Addr("client2", 4))
	}
	for i, a := range attacks {
		n, err := send(fmt.Sprintf("bridge-%d", i), a.pkts)
		if err != nil {
			res.Err = fmt.Errorf("%s through the bridge: %w", a.name, err)
			return res
		}
		res.Attacks = append(res.Attacks, LogicAttack{Key: a.key, Name: a.name, Reason: a.reason, Sent: len(a.pkts), Bridge: n})
	}
	g, err := StartGatewayConfig(ctx, l, env.Rampart, dir, LogicPolicy, fmt.Sprintf("  guard:\n    inside: [%s]\n", netip.PrefixFrom(l.Addr("client2", 4), 24).Masked()))
	if err != nil {
		res.Err = fmt.Errorf("start rampart gateway on fw: %w", err)
		return res
	}
	defer g.Stop()
	for i, a := range attacks {
		before, err := g.Metrics()
		if err != nil {
			res.Err = err
			return res
		}
		n, err := send(fmt.Sprintf("gateway-%d", i), a.pkts)
		if err != nil {
			res.Err = fmt.Errorf("%s through the gateway: %w", a.name, err)
			return res
		}
		after, err := g.Metrics()
		if err != nil {
			res.Err = err
			return res
		}
		key := `rampart_gateway_guard_drops_total{reason="` + a.reason + `"}`
		res.Attacks[i].Gateway, res.Attacks[i].Dropped = n, after[key]-before[key]
	}
	stop, err := StartServers(target, 80)
	if err != nil {
		res.Err = err
		return res
	}
	defer stop()
	_, res.Legitimate = TCPEcho(ctx, l.Host("web"), netip.AddrPortFrom(l.Addr("client2", 4), 80), logicMarker)
	return res
}

// countMarked counts the IPv4 packets to dst in a capture whose payload
// carries the marker (fragments included: each piece carries it).
func countMarked(path, host string, dst netip.Addr) (int, error) {
	pkts, err := lab.ReadPcap(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", host, err)
	}
	n := 0
	for _, p := range pkts {
		ip, ok := p.NetworkLayer().(*layers.IPv4)
		if !ok || netip.AddrFrom4([4]byte(ip.DstIP.To4())) != dst {
			continue
		}
		if bytes.Contains(ip.Payload, logicMarker[:8]) {
			n++
		}
	}
	return n, nil
}

// LabResults renders the run as report lines: per attack a proof (it
// reached client2 through the bare bridge) and a defence (the gateway's
// guard dropped it, counted).
func (r LogicResult) LabResults(scenario string) []lab.Result {
	if r.Err != nil {
		return []lab.Result{{Scenario: scenario, Tried: "logic attacks", Defence: "-", Outcome: r.Err.Error()}}
	}
	var out []lab.Result
	for _, a := range r.Attacks {
		out = append(out,
			lab.Result{Scenario: scenario, Kind: lab.Proof, Tried: a.Name + ", through the kernel bridge", Defence: "none",
				OK: a.Bridge > 0, Outcome: fmt.Sprintf("%d of %d packets reached client2", a.Bridge, a.Sent)},
			lab.Result{Scenario: scenario, Kind: lab.Defence, Tried: a.Name + ", through rampart's gateway", Defence: "guard: " + a.Reason,
				OK: a.Gateway == 0 && a.Dropped > 0, Outcome: fmt.Sprintf("%d reached client2; the guard counted %.0f as %s", a.Gateway, a.Dropped, a.Reason)})
	}
	l := lab.Result{Scenario: scenario, Kind: lab.Check, Tried: "web → client2:80 TCP echo after the attacks", Defence: "the guard lets real traffic through", OK: r.Legitimate == nil}
	if r.Legitimate != nil {
		l.Outcome = r.Legitimate.Error()
	} else {
		l.Outcome = "echoed"
	}
	return append(out, l)
}

// Logic is the scenario.
func Logic() lab.Scenario {
	return lab.Scenario{Name: "logic", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		return RunLogic(ctx, l, env).LabResults("logic")
	}}
}
