package scenario

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/packet"
)

// GatewayPolicy is the lab gateway's policy: ufw's defaults, ssh and http
// open towards the inside servers, one port rejected for outsiders.
const GatewayPolicy = `# rampart lab gateway policy
default deny incoming
default allow outgoing
allow ssh
allow http
reject proto tcp from 198.51.100.0/24 to any port 8080
`

// MetricsAddr is where the lab's gateway serves its metrics, on the fw
// host's loopback.
const MetricsAddr = "127.0.0.1:9154"

// Gateway is rampart's firewall running on the lab's fw host in place of
// the kernel bridge.
type Gateway struct {
	Policy  string // the policy file
	Control string // the control socket (`rampart gateway nat --control`)
	proc    *lab.Proc
	fw      *lab.Node
}

// StartGateway writes the policy to dir, takes fw's interfaces off the
// kernel bridge and runs `rampart gateway` between them. It returns once
// traffic crosses (client1 reaches web).
func StartGateway(ctx context.Context, l *lab.Lab, rampart, dir, policyText string) (*Gateway, error) {
	return StartGatewayConfig(ctx, l, rampart, dir, policyText, "")
}

// StartGatewayConfig is StartGateway with a configuration file: config,
// when not empty, is the YAML of the file's gateway section (indented
// under "gateway:"), e.g. "  conntrack_max: 8192\n".
func StartGatewayConfig(ctx context.Context, l *lab.Lab, rampart, dir, policyText, config string) (*Gateway, error) {
	g := &Gateway{Policy: filepath.Join(dir, "gateway.rules"), fw: l.Host("fw")}
	if err := os.WriteFile(g.Policy, []byte(policyText), 0o600); err != nil {
		return nil, err
	}
	args := []string{rampart, "--log-format", "json"}
	if config != "" {
		path := filepath.Join(dir, "rampart.yaml")
		if err := os.WriteFile(path, []byte("gateway:\n"+config), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--config", path)
	}
	if err := g.fw.SetBridged(false); err != nil {
		return nil, err
	}
	// The control socket is a file: labs side by side need one each.
	g.Control = filepath.Join(dir, "gateway.sock")
	args = append(args, "gateway", "--lan", "lan", "--wan", "wan", "--policy", g.Policy, "--workers", "1", "--metrics", MetricsAddr,
		"--control", g.Control)
	p, err := g.fw.Start("gateway", args...)
	if err != nil {
		g.fw.SetBridged(true)
		return nil, err
	}
	g.proc = p
	if err := g.waitCrossing(ctx, l, 5*time.Second, 300*time.Millisecond); err != nil {
		return nil, err
	}
	return g, nil
}

// waitCrossing returns once an outgoing connection (client1 to web's
// echo port) crosses the gateway, trying every try for at most within;
// if none does, or the gateway exits, it stops the gateway and says why.
func (g *Gateway) waitCrossing(ctx context.Context, l *lab.Lab, within, try time.Duration) error {
	p := g.proc
	stop, err := StartEcho(l.Host("web"), 9)
	if err != nil {
		g.Stop()
		return err
	}
	defer stop()
	deadline := time.Now().Add(within)
	for {
		select {
		case <-p.Done():
			g.Stop()
			return fmt.Errorf("gateway exited: %v: %s", p.Err(), p.Output())
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, try)
		_, err := TCPEcho(cctx, l.Host("client1"), netip.AddrPortFrom(l.Addr("web", 4), 9), []byte("ready?"))
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			g.Stop()
			return fmt.Errorf("no traffic crosses the gateway after %s: %v; log: %s", within, err, p.Output())
		}
	}
}

// Reload rewrites the policy file and sends SIGHUP.
func (g *Gateway) Reload(policyText string) error {
	if err := os.WriteFile(g.Policy, []byte(policyText), 0o600); err != nil {
		return err
	}
	return g.proc.Signal(syscall.SIGHUP)
}

// Log returns what the gateway logged.
func (g *Gateway) Log() string { return g.proc.Output() }

// Stop ends the gateway and puts the kernel bridge back.
func (g *Gateway) Stop() {
	if g.proc != nil {
		g.proc.Stop()
	}
	_ = g.fw.SetBridged(true)
}

// Metrics scrapes the gateway's metrics from inside the fw host and
// returns the samples by name and labels, e.g.
// `rampart_gateway_frames_total{reason="invalid",verdict="drop"}`.
func (g *Gateway) Metrics() (map[string]float64, error) {
	return scrapeMetrics(g.fw, MetricsAddr)
}

// scrapeMetrics reads the Prometheus metrics served at addr inside host h
// and returns the samples by name and labels.
func scrapeMetrics(h *lab.Node, addr string) (map[string]float64, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, time.Second)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.0\r\nHost: "+h.Name+"\r\n\r\n"); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, "rampart_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// Frames returns the gateway's frame counter for a verdict and reason.
func Frames(m map[string]float64, verdict, reason string) float64 {
	return m[`rampart_gateway_frames_total{reason="`+reason+`",verdict="`+verdict+`"}`]
}

// StartServers listens on the TCP ports in host h and echoes what each
// connection sends, until stop is called.
func StartServers(h *lab.Node, ports ...int) (stop func(), err error) {
	var stops []func()
	for _, p := range ports {
		s, err := StartEcho(h, p)
		if err != nil {
			for _, f := range stops {
				f()
			}
			return nil, err
		}
		stops = append(stops, s)
	}
	return func() {
		for _, f := range stops {
			f()
		}
	}, nil
}

// Connect tries a TCP connection from h to dst within timeout and reports
// how it ended: "connected", "refused" (an RST came back) or "timeout".
func Connect(ctx context.Context, h *lab.Node, dst netip.AddrPort, timeout time.Duration) string {
	var c net.Conn
	err := h.Do(func() error {
		d := net.Dialer{Timeout: timeout}
		var err error
		c, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	})
	switch {
	case err == nil:
		c.Close()
		return "connected"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case isTimeout(err):
		return "timeout"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Firewall is the demo's firewall scenario: rampart's gateway enforcing
// GatewayPolicy between the inside and the router.
func Firewall() lab.Scenario { return lab.Scenario{Name: "firewall", Run: runFirewall} }

func runFirewall(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
	const name = "firewall"
	fail := func(tried string, err error) []lab.Result {
		return []lab.Result{{Scenario: name, Tried: tried, Defence: "-", Outcome: err.Error()}}
	}
	dir := filepath.Join(env.Dir, "firewall")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("prepare", err)
	}
	stopSrv, err := StartServers(l.Host("client2"), 22, 80, 23, 8080)
	if err != nil {
		return fail("start inside servers", err)
	}
	defer stopSrv()
	stopWeb, err := StartEcho(l.Host("web"), EchoPort)
	if err != nil {
		return fail("start the echo service on web", err)
	}
	defer stopWeb()
	g, err := StartGateway(ctx, l, env.Rampart, dir, GatewayPolicy)
	if err != nil {
		return fail("start rampart gateway on fw", err)
	}
	defer g.Stop()
	env.Logf("rampart gateway bridges fw's lan and wan with the policy: allow ssh, allow http, reject 8080 from 198.51.100.0/24")
	var results []lab.Result
	attacker, inside := l.Host("attacker"), l.Addr("client2", 4)
	before, _ := g.Metrics()
	for _, c := range []struct {
		port int
		want string
		rule string
		kind lab.Kind
	}{{22, "connected", "allow ssh", lab.Check}, {80, "connected", "allow http", lab.Check},
		{23, "timeout", "default deny incoming", lab.Defence}, {8080, "refused", "reject (TCP RST)", lab.Defence}} {
		got := Connect(ctx, attacker, netip.AddrPortFrom(inside, uint16(c.port)), time.Second)
		r := lab.Result{Scenario: name, Kind: c.kind, Tried: fmt.Sprintf("attacker connects to client2:%d", c.port), Defence: c.rule, Outcome: got, OK: got == c.want}
		results = append(results, r)
		env.Logf("attacker → client2:%d: %s", c.port, got)
	}
	payload := make([]byte, 2000)
	_, _ = rand.Read(payload)
	r := lab.Result{Scenario: name, Tried: "client1 → web TCP echo (outgoing)", Defence: "default allow outgoing; replies by conntrack"}
	if rtt, err := TCPEcho(ctx, l.Host("client1"), netip.AddrPortFrom(l.Addr("web", 4), EchoPort), payload); err != nil {
		r.Outcome = err.Error()
	} else {
		r.OK, r.Outcome = true, fmt.Sprintf("2000 bytes echoed in %s", rtt.Round(time.Microsecond))
	}
	results = append(results, r)
	// A spoofed ACK from outside, for a connection that does not exist.
	pcap := filepath.Join(dir, "client1.pcap")
	cap1, err := l.Host("client1").Capture("eth0", pcap)
	if err != nil {
		return append(results, lab.Result{Scenario: name, Tried: "capture", Outcome: err.Error()})
	}
	ack, _ := lab.Spec{Src: l.Addr("web", 4), Dst: l.Addr("client1", 4), Proto: layers.IPProtocolTCP, SrcPort: 80, DstPort: 40404, Seq: 12345, Ack: 67890, Flags: packet.TCPACK, Payload: []byte("spoofed")}.Build()
	r = lab.Result{Scenario: name, Kind: lab.Defence, Tried: "attacker sends a spoofed ACK (no connection) to client1", Defence: "conntrack: invalid, dropped"}
	if err := attacker.SendRaw(ack); err != nil {
		r.Outcome = err.Error()
	} else {
		time.Sleep(100 * time.Millisecond)
		cap1.Stop()
		arrived := countSpoofed(pcap)
		after, _ := g.Metrics()
		invalid := Frames(after, "drop", "invalid") - Frames(before, "drop", "invalid")
		r.OK = arrived == 0 && invalid >= 1
		r.Outcome = fmt.Sprintf("%d reached client1; gateway dropped %.0f as invalid", arrived, invalid)
	}
	results = append(results, r)
	after, err := g.Metrics()
	if err == nil {
		d := Frames(after, "drop", "default") - Frames(before, "drop", "default")
		rj := Frames(after, "reject", "rule") - Frames(before, "reject", "rule")
		results = append(results, lab.Result{Scenario: name, Tried: "gateway counters", Defence: "rampart_gateway_frames_total",
			Outcome: fmt.Sprintf("%.0f dropped by the default, %.0f rejected by a rule", d, rj), OK: d >= 1 && rj >= 1})
	}
	return results
}

// countSpoofed counts the TCP segments carrying "spoofed" in a capture.
func countSpoofed(path string) int {
	pkts, err := lab.ReadPcap(path)
	if err != nil {
		return -1
	}
	n := 0
	for _, p := range pkts {
		if t, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && string(t.Payload) == "spoofed" {
			n++
		}
	}
	return n
}
