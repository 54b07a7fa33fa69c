package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/scenario"
)

var (
	rampartBin = flag.String("rampart", "bin/rampart", "rampart binary")
	nRules     = flag.Int("rules", 1000, "rules in the policy (the last 3 allow the test traffic)")
	rounds     = flag.Int("rounds", 3, "rounds; each runs every setup once, and the median is reported")
	seconds    = flag.Int("seconds", 5, "length of each UDP, TCP and iperf3 run")
	workers    = flag.Int("workers", runtime.NumCPU(), "rampart gateway workers (fanout queues per interface); the default is the gateway's own, one per core")
	senders    = flag.Int("senders", 2, "UDP sender goroutines, one flow each")
	size       = flag.Int("size", 64, "UDP payload bytes")
	conns      = flag.Int("conns", 32, "TCP connecting goroutines")
	doIperf    = flag.Bool("iperf", true, "measure TCP bulk throughput with iperf3")
	baseline   = flag.Bool("baseline", true, "also measure the lab with no firewall (kernel bridge, plain routing)")
	quick      = flag.Bool("quick", false, "one round of 2 s runs")
	noTSO      = flag.Bool("no-tso", false, "turn TSO and GSO off on the path's interfaces (web, gw, client2) for every setup")
	profileDir = flag.String("profile", "", "write rampart's CPU profile (pprof, from its metrics listener) and, with perf installed, its system call counts for each round's UDP and TCP runs into this directory")
	natMode    = flag.Bool("nat", false, "measure NAT instead: client2 → web outgoing, translated to gw's wan address by rampart in router mode on gw against the kernel's nftables masquerade on gw (fw stays a kernel bridge)")
)

// The hosts the traffic goes between: web → client2 through the policy,
// client2 → web through the NAT (-nat).
var senderHost, receiverHost = "web", "client2"

// setup is one way of running the lab for a measurement.
type setup struct {
	name  string
	start func() error
	stop  func()
	pid   func() int // the process doing the filtering in user space, if any
	host  *lab.Node  // where that process runs
}

type measure struct {
	udp  udpResult
	udpM float64 // machine busy fraction during the UDP run
	udpP float64 // cores used by the filtering process during the UDP run
	tcp  tcpResult
	gbps float64
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *quick {
		*rounds, *seconds = 1, 2
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	if err := lab.CheckPrivileges(); err != nil {
		return err
	}
	if *nRules < testRuleKeep || *rounds < 1 || *seconds < 1 || *workers < 1 || *senders < 1 || *conns < 1 || *size < 1 || *size > 1472 {
		return fmt.Errorf("bad flags: need -rules >= %d, -rounds, -seconds, -workers, -senders, -conns >= 1, 1 <= -size <= 1472", testRuleKeep)
	}
	bin, err := filepath.Abs(*rampartBin)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	dir, err := os.MkdirTemp("", "rampart-bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	if *natMode {
		senderAddr, receiverAddr = receiverAddr, senderAddr
		senderHost, receiverHost = receiverHost, senderHost
	}
	rules := generateRules(*nRules, 1)
	polText, nft := policyText(rules), nftText(rules)
	if *natMode {
		polText = natPolicy
	} else if err := checkPolicy(polText, *nRules); err != nil {
		return fmt.Errorf("generated policy: %w", err)
	}
	polPath, nftPath := filepath.Join(dir, "gateway.rules"), filepath.Join(dir, "forward.nft")
	if err := os.WriteFile(polPath, []byte(polText), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(nftPath, []byte(nft), 0o600); err != nil {
		return err
	}

	l, err := lab.Up(ctx, lab.Standard(), nil)
	if err != nil {
		return err
	}
	defer l.Down()
	fw, gw, web, c2 := l.Host("fw"), l.Host("gw"), l.Host("web"), l.Host("client2")
	snd, rcv := l.Host(senderHost), l.Host(receiverHost)
	// The senders' ephemeral ports stay above every port a filler rule
	// names, and there are enough of them for a run's connections.
	if err := snd.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte(fmt.Sprintf("%d 65535", portRangeLo)), 0o644)
	}); err != nil {
		return err
	}
	if *noTSO {
		for _, hi := range []struct {
			h     *lab.Node
			iface string
		}{{web, "eth0"}, {gw, "lan"}, {gw, "wan"}, {c2, "eth0"}} {
			if _, err := hi.h.Run(ctx, "ethtool", "-K", hi.iface, "tso", "off", "gso", "off"); err != nil {
				return err
			}
		}
	}
	sink, err := udpSink(rcv)
	if err != nil {
		return err
	}
	defer sink.Close()
	stopTCP, err := tcpServers(rcv)
	if err != nil {
		return err
	}
	defer stopTCP()
	if *doIperf {
		srv, err := rcv.Start("iperf3", "iperf3", "-s", "-B", receiverAddr.String(), "-p", strconv.Itoa(iperfPort))
		if err != nil {
			return err
		}
		defer srv.Stop()
	}

	var gateway *lab.Proc
	gatewayHost := fw
	if *natMode {
		gatewayHost = gw
	}
	if *profileDir != "" {
		if err := os.MkdirAll(*profileDir, 0o755); err != nil {
			return err
		}
	}
	var undoNAT func() // the kernel's masquerade, in -nat runs
	setups := []setup{}
	if *baseline {
		setups = append(setups, setup{name: "no firewall", start: func() error { return nil }, stop: func() {}, pid: func() int { return 0 }})
	}
	setups = append(setups,
		setup{
			name: "nftables",
			start: func() error {
				// A fresh connection table, as rampart starts with one.
				if err := gw.Do(func() error { return netlink.ConntrackTableFlush(netlink.ConntrackTable) }); err != nil {
					return fmt.Errorf("flush gw conntrack: %w", err)
				}
				if *natMode {
					var err error
					undoNAT, err = scenario.KernelMasquerade(ctx, l, natInside)
					return err
				}
				_, err := gw.Run(ctx, "nft", "-f", nftPath)
				return err
			},
			stop: func() {
				if undoNAT != nil {
					undoNAT()
					undoNAT = nil
					return
				}
				_, _ = gw.Run(ctx, "nft", "delete", "table", "inet", nftTable)
			},
			pid: func() int { return 0 },
		},
		setup{
			name: "rampart",
			start: func() error {
				var p *lab.Proc
				var err error
				if *natMode {
					p, err = startRampartNAT(ctx, l, bin, dir, polPath)
				} else {
					p, err = startRampart(ctx, l, bin, polPath)
				}
				gateway = p
				return err
			},
			stop: func() {
				if gateway != nil {
					if m, err := scrape(gatewayHost); err == nil {
						fmt.Printf("  rampart counters: %s\n", m)
					}
					gateway.Stop()
					gateway = nil
				}
				if *natMode {
					_ = scenario.GiveBackToKernel(ctx, l, "gw")
					return
				}
				_ = fw.SetBridged(true)
			},
			pid:  func() int { return pidByArg(polPath) },
			host: gatewayHost,
		},
	)

	fmt.Printf("rampart gateway vs nftables: %d-rule stateful policy, lab %s\n", *nRules, l.Prefix)
	fmt.Printf("machine: %s, %d cores, kernel %s, %s, load average at start %s\n", cpuModel(), runtime.NumCPU(), kernel(), nftVersion(ctx), loadAvg())
	fmt.Printf("command: %s\n", strings.Join(os.Args, " "))
	fmt.Printf("date: %s\n", time.Now().UTC().Format(time.RFC3339))
	if *natMode {
		fmt.Println("traffic client2 (10.10.0.12, inside) -> web (203.0.113.80, outside), outgoing, source NAT to gw's 203.0.113.1")
		fmt.Println("  rampart: gateway --mode router --workers", *workers, "on gw (the kernel's addresses flushed), gateway.nat.masquerade 10.10.0.0/24; policy: default deny incoming, allow outgoing")
		fmt.Println("  nftables: gw routes, an ip nat postrouting chain masquerades 10.10.0.0/24 out of wan; fw is a kernel bridge in both")
	} else {
		fmt.Printf("traffic web (203.0.113.80, outside) -> client2 (10.10.0.12, inside), incoming, allowed by rules %d-%d of %d\n", *nRules-2, *nRules, *nRules)
		fmt.Println("  rampart: gateway --workers", *workers, "bridges fw's lan and wan; gw routes with no rules")
		fmt.Println("  nftables: fw is a kernel bridge; gw routes and filters (inet forward chain, same rules, iifname lan/wan)")
	}
	fmt.Println()

	d := time.Duration(*seconds) * time.Second
	results := map[string][]measure{}
	for r := 1; r <= *rounds; r++ {
		for _, s := range setups {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m, err := measureSetup(ctx, l, s, sink, d, r)
			if err != nil && gateway != nil {
				err = fmt.Errorf("%w\ngateway log:\n%s", err, tail(gateway.Output(), 3000))
			}
			s.stop()
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, s.name, err)
			}
			results[s.name] = append(results[s.name], m)
			fmt.Printf("round %d %-11s udp %9.0f pps (sent %9.0f/s, loss %5.1f%%, machine busy %3.0f%%, filter process %.2f cores)  tcp %7.0f conn/s (%d failed)  iperf3 %7.3f Gbit/s\n",
				r, s.name, m.udp.pps(), float64(m.udp.sent)/m.udp.secs, 100*m.udp.loss(), 100*m.udpM, m.udpP, m.tcp.cps(), m.tcp.failed, m.gbps)
		}
	}
	fmt.Printf("\nmedian of %d rounds, %d s each:\n", *rounds, *seconds)
	fmt.Printf("  %-11s %12s %8s %12s %12s\n", "setup", "UDP pps", "loss", "TCP conn/s", "iperf3 Gbit/s")
	med := map[string][4]float64{}
	for _, s := range setups {
		ms := results[s.name]
		v := [4]float64{
			median(ms, func(m measure) float64 { return m.udp.pps() }),
			median(ms, func(m measure) float64 { return m.udp.loss() }),
			median(ms, func(m measure) float64 { return m.tcp.cps() }),
			median(ms, func(m measure) float64 { return m.gbps }),
		}
		med[s.name] = v
		fmt.Printf("  %-11s %12.0f %7.1f%% %12.0f %12.3f\n", s.name, v[0], 100*v[1], v[2], v[3])
	}
	r, n := med["rampart"], med["nftables"]
	fmt.Printf("  ratio rampart/nftables: UDP pps %.2f, TCP conn/s %.2f, iperf3 %.2f\n", r[0]/n[0], r[2]/n[2], ratio(r[3], n[3]))
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// measureSetup starts a setup, checks that it forwards the allowed traffic
// and (for a firewall) blocks a port no rule allows, and runs the three
// measurements.
func measureSetup(ctx context.Context, l *lab.Lab, s setup, sink net.PacketConn, d time.Duration, round int) (measure, error) {
	var m measure
	if err := s.start(); err != nil {
		return m, err
	}
	web, c2 := l.Host(senderHost), l.Host(receiverHost)
	if got := scenario.Connect(ctx, web, netip.AddrPortFrom(receiverAddr, tcpPortLo), time.Second); got != "connected" {
		return m, fmt.Errorf("allowed connection %s -> %s:%d: %s", senderHost, receiverHost, tcpPortLo, got)
	}
	want := "timeout"
	if s.name == "no firewall" || *natMode {
		// NAT lets every outgoing connection out: the closed port answers.
		want = "refused"
	}
	if got := scenario.Connect(ctx, web, netip.AddrPortFrom(receiverAddr, blockedPort), 500*time.Millisecond); got != want {
		return m, fmt.Errorf("connection to the blocked port %d: %s, want %s", blockedPort, got, want)
	}
	pid := s.pid()
	var prof *profiling
	if *profileDir != "" && s.host != nil {
		prof = &profiling{dir: *profileDir, node: s.host, pid: pid, round: round}
	}
	var profiled func() string
	if prof != nil {
		profiled = prof.start(ctx, "udp", d)
	}
	c0 := sampleCPU(pid)
	u, err := udpBlast(web, c2, sink, *senders, *size, d)
	if profiled != nil {
		fmt.Printf("  profile of the UDP run: %s\n", profiled())
	}
	if err != nil {
		return m, fmt.Errorf("udp: %w", err)
	}
	c1 := sampleCPU(pid)
	m.udp = u
	m.udpM, m.udpP = cpuShare(c0, c1, runtime.NumCPU(), d.Seconds()+0.3)
	// Let queues drain and the UDP flow's state settle before the next run.
	time.Sleep(500 * time.Millisecond)
	if prof != nil {
		profiled = prof.start(ctx, "tcp", d)
	}
	m.tcp = tcpConnects(web, *conns, d)
	if prof != nil {
		fmt.Printf("  profile of the TCP run: %s\n", profiled())
	}
	if *doIperf {
		time.Sleep(500 * time.Millisecond)
		g, err := iperf(ctx, web, d)
		if err != nil {
			return m, err
		}
		m.gbps = g
	}
	return m, nil
}

// startRampart takes fw off the kernel bridge and runs rampart's gateway
// between its interfaces, like scenario.StartGateway but with the worker
// count of -workers. It returns once an allowed connection crosses.
func startRampart(ctx context.Context, l *lab.Lab, bin, polPath string) (*lab.Proc, error) {
	fw := l.Host("fw")
	if err := fw.SetBridged(false); err != nil {
		return nil, err
	}
	p, err := fw.Start("gateway", bin, "--log-format", "json", "gateway", "--lan", "lan", "--wan", "wan",
		"--policy", polPath, "--workers", strconv.Itoa(*workers), "--metrics", scenario.MetricsAddr,
		"--control", filepath.Join(filepath.Dir(polPath), "gateway.sock"))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-p.Done():
			return nil, fmt.Errorf("gateway exited: %v: %s", p.Err(), p.Output())
		default:
		}
		if scenario.Connect(ctx, l.Host("web"), netip.AddrPortFrom(receiverAddr, tcpPortLo), 300*time.Millisecond) == "connected" {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return nil, fmt.Errorf("no traffic crosses the gateway after 10 s; log: %s", p.Output())
		}
	}
}

func median(ms []measure, f func(measure) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func nftVersion(ctx context.Context) string {
	out, err := runOut(ctx, "nft", "--version")
	if err != nil {
		return "nft ?"
	}
	return strings.TrimSpace(out)
}

// dialMetrics connects to the metrics listener of the gateway on host.
func dialMetrics(host *lab.Node) (net.Conn, error) {
	var c net.Conn
	err := host.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", scenario.MetricsAddr, time.Second)
		return err
	})
	return c, err
}

// scrape reads the gateway's frame counters on its host, for the record of
// why frames were dropped. Only the frames and drop series are kept.
func scrape(host *lab.Node) (string, error) {
	c, err := dialMetrics(host)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("GET /metrics HTTP/1.0\r\nHost: fw\r\n\r\n")); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(c, 8<<20))
	if err != nil {
		return "", err
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "rampart_gateway_frames_total") || (strings.HasPrefix(line, "rampart_") && strings.Contains(line, "drop")) {
			if !strings.HasSuffix(line, " 0") {
				keep = append(keep, strings.TrimPrefix(line, "rampart_"))
			}
		}
	}
	return strings.Join(keep, "; "), nil
}
