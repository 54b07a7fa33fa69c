package scenario

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/packet"
)

// The SYN flood of issue 10: the attacker floods the inside web server
// (client2:80) with SYNs from spoofed random sources at its full rate,
// while a legitimate outside client (web) keeps connecting to it and
// echoing a few bytes. The server is made fragile on purpose, as the
// issue asks: a small SYN backlog and no SYN cookies of its own, so that
// without a defence in front of it the flood fills its queue. The run is
// made twice on one lab: with the gateway's SYN proxy on, then off.

// SYNFloodOptions bounds the attack.
type SYNFloodOptions struct {
	// Duration is how long the attacker floods in each run [20s].
	Duration time.Duration
	// MaxPackets bounds the packets of each run [50,000,000].
	MaxPackets uint64
	// Backlog is the server's SYN backlog (tcp_max_syn_backlog and
	// somaxconn in its namespace) [128].
	Backlog int
}

func (o *SYNFloodOptions) defaults() {
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if o.MaxPackets == 0 {
		o.MaxPackets = 50_000_000
	}
	if o.Backlog <= 0 {
		o.Backlog = 128
	}
}

// SYNFloodRun is one run: the flood with the proxy on or off.
type SYNFloodRun struct {
	// Mode is the defence: "on" (rampart's gateway with its SYN proxy),
	// "off" (rampart's gateway without it), or "kernel" (no rampart: the
	// kernel's own synproxy, nftables, in the routed gw host).
	Mode    string
	Sent    uint64
	Lost    uint64
	Elapsed time.Duration
	// Attempts and Completed count the legitimate client's connections
	// (connect, 64 bytes echoed, within 3 s); Latencies are those of the
	// completed ones, connect to last byte, in order.
	Attempts, Completed int
	Latencies           []time.Duration
	// Timeline is the legitimate client's outcome per second of the run.
	Timeline []SYNFloodSecond
	// Before and After are the gateway's metrics around the flood.
	Before, After map[string]float64
	// Peak is the most entries the gateway's table held during the flood.
	Peak float64
	// RSS is the gateway's resident memory in bytes, before the flood and
	// then once a second during it.
	RSS []int64
	// ServerHalfOpen is the server's connections in SYN_RECV at the
	// flood's end; ServerDrops the SYNs its listener dropped during the
	// run (TcpExt ListenDrops).
	ServerHalfOpen int
	ServerDrops    int64
	Err            error
}

// SYNFloodSecond is one second of a run as the legitimate client saw it.
type SYNFloodSecond struct {
	Attempts, Completed int
	Latency             time.Duration // the mean of the completed ones
}

// RSSGrowth is how much the gateway's resident memory grew from before the
// flood to its peak during it.
func (r *SYNFloodRun) RSSGrowth() int64 {
	if len(r.RSS) == 0 {
		return 0
	}
	return max(slices.Max(r.RSS)-r.RSS[0], 0)
}

// residentBytes reads a process's VmRSS.
func residentBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// Share is the share of legitimate connections that completed.
func (r *SYNFloodRun) Share() float64 {
	if r.Attempts == 0 {
		return 0
	}
	return float64(r.Completed) / float64(r.Attempts)
}

// Latency returns the q-quantile of the completed connections' latency.
func (r *SYNFloodRun) Latency(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.Latencies)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

// Metric returns a metric's growth over the run.
func (r *SYNFloodRun) Metric(name string) float64 { return r.After[name] - r.Before[name] }

// SYNFloodResult is both runs.
type SYNFloodResult struct {
	Options         SYNFloodOptions
	On, Kernel, Off SYNFloodRun
	Err             error
}

// SYNFlood is the scenario with its default bounds.
func SYNFlood() lab.Scenario {
	return lab.Scenario{Name: "synflood", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		r := RunSYNFlood(ctx, l, env, SYNFloodOptions{})
		out := r.LabResults("synflood")
		if r.Err == nil {
			plot := filepath.Join(env.Dir, "synflood.svg")
			if err := r.WriteSVGFile(plot); err != nil {
				plot = "not drawn: " + err.Error()
			}
			out[len(out)-1].Details = append(out[len(out)-1].Details, "plot: "+plot)
		}
		return out
	}}
}

// spoofedSources are the flood's sources: shared address space (RFC
// 6598), routed nowhere in the lab and no martian to the gateway.
const spoofedSources = "100.64.0.0/10"

// synFloodServer is the inside web server the flood aims at.
func synFloodServer(l *lab.Lab) netip.AddrPort { return netip.AddrPortFrom(l.Addr("client2", 4), 80) }

// RunSYNFlood makes client2 a fragile server and runs the flood twice:
// with the gateway's SYN proxy on, then off.
func RunSYNFlood(ctx context.Context, l *lab.Lab, env *lab.Env, opts SYNFloodOptions) (res SYNFloodResult) {
	opts.defaults()
	res.Options = opts
	srv := l.Host("client2")
	restore, err := fragileServer(srv, opts.Backlog)
	if err != nil {
		res.Err = fmt.Errorf("client2's TCP settings: %w", err)
		return res
	}
	defer restore()
	// The spoofed sources answer nothing, as an attacker picks them: the
	// outside router drops what is sent to them without an ICMP error
	// (an unreachable would take the server's half-open connection out
	// of its queue at once).
	gw := l.Host("gw")
	if out, err := gw.Run(ctx, "ip", "route", "add", "blackhole", spoofedSources); err != nil {
		res.Err = fmt.Errorf("blackhole route on gw: %v: %s", err, out)
		return res
	}
	defer gw.Run(context.Background(), "ip", "route", "del", "blackhole", spoofedSources)
	stop, err := StartServers(srv, 80)
	if err != nil {
		res.Err = fmt.Errorf("start the inside web server: %w", err)
		return res
	}
	defer stop()
	// The runs without a defence last: it leaves the server's SYN queue
	// full of spoofed half-open connections for a minute.
	for _, run := range []*SYNFloodRun{&res.On, &res.Kernel, &res.Off} {
		mode := map[*SYNFloodRun]string{&res.On: "on", &res.Kernel: "kernel", &res.Off: "off"}[run]
		*run = runSYNFlood(ctx, l, env, opts, mode)
		if run.Err != nil {
			res.Err = run.Err
			return res
		}
	}
	return res
}

// fragileServer sets, in host h's namespace, SYN cookies off, the SYN
// backlog and listen queue to backlog and no TCP metrics saved, and
// returns what puts them back.
func fragileServer(h *lab.Node, backlog int) (restore func(), err error) {
	settings := map[string]string{
		"/proc/sys/net/ipv4/tcp_syncookies":      "0",
		"/proc/sys/net/ipv4/tcp_max_syn_backlog": strconv.Itoa(backlog),
		"/proc/sys/net/core/somaxconn":           strconv.Itoa(backlog),
		// Without cookies Linux keeps the last quarter of its SYN queue
		// for peers it has measured before (tcp_peer_is_proven): every
		// client of the run would be one after its first connection.
		// Real floods hurt the clients a server has not seen; with no
		// metrics saved, every client is one.
		"/proc/sys/net/ipv4/tcp_no_metrics_save": "1",
	}
	old := map[string]string{}
	err = h.Do(func() error {
		for path, v := range settings {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			old[path] = strings.TrimSpace(string(b))
			if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	restore = func() {
		_ = h.Do(func() error {
			for path, v := range old {
				_ = os.WriteFile(path, []byte(v), 0o644)
			}
			return nil
		})
	}
	if err != nil {
		restore()
		return nil, err
	}
	return restore, nil
}

// synRecv counts host h's connections in SYN_RECV.
func synRecv(h *lab.Node) (int, error) {
	var count int
	err := h.Do(func() error {
		// A dual-stack listener's IPv4 connections are listed in tcp6.
		for _, name := range []string{"tcp", "tcp6"} {
			b, err := os.ReadFile("/proc/thread-self/net/" + name)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				// The fourth field is the state: 03 is SYN_RECV.
				if f := strings.Fields(line); len(f) > 3 && f[3] == "03" {
					count++
				}
			}
		}
		return nil
	})
	return count, err
}

// listenDrops reads host h's TcpExt ListenDrops: SYNs and handshakes its
// listeners dropped.
func listenDrops(h *lab.Node) (int64, error) {
	var n int64
	err := h.Do(func() error {
		var err error
		n, err = snmpCounter("/proc/thread-self/net/netstat", "TcpExt:", "ListenDrops")
		return err
	})
	return n, err
}

// SYNFloodProxyConfig is the gateway's configuration with the proxy on.
func SYNFloodProxyConfig(l *lab.Lab) string {
	return fmt.Sprintf("  guard:\n    synproxy:\n      mode: always\n      destinations: [%s/32]\n", l.Addr("client2", 4))
}

// kernelSynproxy is the nftables ruleset of the kernel's synproxy on gw
// for the server, as the nftables wiki sets it up: the server's SYNs
// untracked, then answered by synproxy in the forward hook.
const kernelSynproxy = `table ip rampart_synflood {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ip daddr %[1]s tcp dport 80 tcp flags syn notrack
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		ip daddr %[1]s tcp dport 80 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
		ct state invalid drop
	}
}
`

// startKernelSynproxy loads kernelSynproxy into gw (with
// nf_conntrack_tcp_loose off, as synproxy needs) and returns what
// removes it.
func startKernelSynproxy(ctx context.Context, l *lab.Lab) (stop func(), err error) {
	gw := l.Host("gw")
	rules := filepath.Join(l.Dir, "synflood.nft")
	if err := os.WriteFile(rules, fmt.Appendf(nil, kernelSynproxy, l.Addr("client2", 4)), 0o600); err != nil {
		return nil, err
	}
	if out, err := gw.Run(ctx, "nft", "-f", rules); err != nil {
		return nil, fmt.Errorf("nft on gw: %v: %s", err, out)
	}
	const loose = "/proc/sys/net/netfilter/nf_conntrack_tcp_loose"
	var old []byte
	_ = gw.Do(func() error {
		var err error
		if old, err = os.ReadFile(loose); err == nil {
			err = os.WriteFile(loose, []byte("0"), 0o644)
		}
		return err
	})
	return func() {
		_, _ = gw.Run(context.Background(), "nft", "delete", "table", "ip", "rampart_synflood")
		if old != nil {
			_ = gw.Do(func() error { return os.WriteFile(loose, old, 0o644) })
		}
	}, nil
}

// conntrackCount reads the kernel's tracked connections in host h.
func conntrackCount(h *lab.Node) (float64, error) {
	var n float64
	err := h.Do(func() error {
		b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_count")
		if err == nil {
			n, err = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		}
		return err
	})
	return n, err
}

func runSYNFlood(ctx context.Context, l *lab.Lab, env *lab.Env, opts SYNFloodOptions, mode string) (run SYNFloodRun) {
	run.Mode = mode
	dir := filepath.Join(env.Dir, "synflood-"+mode)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		run.Err = err
		return run
	}
	// sample reads the table's size (rampart's, or the kernel's on gw)
	// and rampart's resident memory.
	var sample func()
	switch mode {
	case "kernel":
		stop, err := startKernelSynproxy(ctx, l)
		if err != nil {
			run.Err = err
			return run
		}
		defer stop()
		sample = func() {
			if n, err := conntrackCount(l.Host("gw")); err == nil {
				run.Peak = max(run.Peak, n)
			}
		}
	default:
		cfg := "  guard:\n    synproxy:\n      mode: off\n"
		if mode == "on" {
			cfg = SYNFloodProxyConfig(l)
		}
		g, err := StartGatewayConfig(ctx, l, env.Rampart, dir, PinningPolicy, cfg)
		if err != nil {
			run.Err = fmt.Errorf("start rampart gateway on fw: %w", err)
			return run
		}
		defer g.Stop()
		if run.Before, err = g.Metrics(); err != nil {
			run.Err = fmt.Errorf("metrics: %w", err)
			return run
		}
		sample = func() {
			if m, err := g.Metrics(); err == nil {
				run.Peak = max(run.Peak, m["rampart_conntrack_entries"])
				run.After = m
			}
			if rss, err := residentBytes(g.proc.PID()); err == nil {
				run.RSS = append(run.RSS, rss)
			}
		}
		sample()
	}
	srv := l.Host("client2")
	drops0, err := listenDrops(srv)
	if err != nil {
		run.Err = err
		return run
	}
	f, err := newPinFlooder(l)
	if err != nil {
		run.Err = err
		return run
	}
	defer f.close()
	env.Logf("%s: the attacker floods client2:80 with spoofed SYNs for %s while web keeps connecting", run.Name(), opts.Duration)
	fctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.synFlood(fctx, opts.MaxPackets) }()
	go func() { defer wg.Done(); run.legitimate(fctx, l) }()
	tick := time.NewTicker(time.Second)
	for done := false; !done; {
		select {
		case <-fctx.Done():
			done = true
		case <-tick.C:
			sample()
		}
	}
	tick.Stop()
	if run.ServerHalfOpen, err = synRecv(srv); err != nil {
		run.Err = err
	}
	wg.Wait()
	drops1, err := listenDrops(srv)
	if err != nil {
		run.Err = err
	}
	run.ServerDrops = drops1 - drops0
	run.Sent, run.Lost, run.Elapsed = f.sent[pinSYNFlood], f.lost, f.end.Sub(f.start)
	if f.err != nil {
		run.Err = f.err
	}
	if run.Err != nil {
		return run
	}
	sample()
	env.Logf("%s: %d SYNs sent; legitimate connections %d of %d", run.Name(), run.Sent, run.Completed, run.Attempts)
	return run
}

// Name says what defended the run.
func (r *SYNFloodRun) Name() string {
	switch r.Mode {
	case "on":
		return "rampart's SYN proxy"
	case "kernel":
		return "the kernel's synproxy (nftables on gw)"
	}
	return "no SYN proxy"
}

// legitimate connects from web to the server, one connection after
// another (a new one every 50 ms at most), until ctx ends.
func (r *SYNFloodRun) legitimate(ctx context.Context, l *lab.Lab) {
	web, dst := l.Host("web"), synFloodServer(l)
	payload := []byte(strings.Repeat("legitimate client ", 4)[:64])
	start := time.Now()
	for ctx.Err() == nil {
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		d, err := TCPEcho(cctx, web, dst, payload)
		cancel()
		sec := int(t0.Sub(start) / time.Second)
		for len(r.Timeline) <= sec {
			r.Timeline = append(r.Timeline, SYNFloodSecond{})
		}
		s := &r.Timeline[sec]
		r.Attempts++
		s.Attempts++
		if err == nil {
			r.Completed++
			r.Latencies = append(r.Latencies, d)
			s.Latency = (s.Latency*time.Duration(s.Completed) + d) / time.Duration(s.Completed+1)
			s.Completed++
		}
		if rest := 50*time.Millisecond - time.Since(t0); rest > 0 {
			time.Sleep(rest)
		}
	}
}

// synFlood sends SYNs from random sources of 100.64.0.0/10 (shared
// address space, RFC 6598: routed nowhere in the lab, and not a martian
// to the gateway) to the server until ctx ends or budget is spent.
func (f *pinFlooder) synFlood(ctx context.Context, budget uint64) {
	f.start = time.Now()
	defer func() { f.end = time.Now() }()
	dst := f.server
	for sent := uint64(0); sent < budget; sent++ {
		if sent%1024 == 0 && ctx.Err() != nil {
			return
		}
		v := f.rng.Uint64()
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 64 | byte(v>>24)&63, byte(v >> 8), byte(v)}), uint16(1024+(v>>32)%64000))
		if !f.send(pinSYNFlood, src, dst, packet.TCPSYN, uint32(v>>20), 0, false) {
			return
		}
		if sent%256 == 0 {
			f.progress.Store(sent)
		}
	}
}

// LabResults renders the runs as report lines.
func (r SYNFloodResult) LabResults(scenario string) []lab.Result {
	if r.Err != nil {
		return []lab.Result{{Scenario: scenario, Tried: "SYN flood from spoofed sources", Defence: "-", Outcome: r.Err.Error()}}
	}
	line := func(run *SYNFloodRun) string {
		return fmt.Sprintf("%d spoofed SYNs in %s (%.0f/s); legitimate connections %d of %d (%.1f%%), latency median %s, p99 %s; table peak %.0f entries; the server dropped %d SYNs",
			run.Sent, run.Elapsed.Round(time.Millisecond), float64(run.Sent)/run.Elapsed.Seconds(), run.Completed, run.Attempts, 100*run.Share(),
			run.Latency(0.5).Round(time.Millisecond), run.Latency(0.99).Round(time.Millisecond), run.Peak, run.ServerDrops)
	}
	on := &r.On
	return []lab.Result{
		{Scenario: scenario, Kind: lab.Proof, Tried: "SYN flood against a server with a small backlog and no SYN cookies, rampart's gateway without the SYN proxy",
			Defence: "none", OK: r.Off.Share() < 0.9, Outcome: line(&r.Off)},
		{Scenario: scenario, Kind: lab.Check, Tried: "for comparison: the same flood, the kernel's synproxy (nftables) in the routed gw host, rampart not running",
			Defence: "nftables synproxy", OK: true, Outcome: line(&r.Kernel) + " (the table is gw's conntrack)"},
		{Scenario: scenario, Kind: lab.Defence, Tried: "the same flood, rampart's SYN proxy on",
			Defence: "SYN proxy with SYN cookies",
			// Every entry the gateway made is a legitimate connection:
			// one per valid cookie, none for a spoofed SYN (a few may be
			// other traffic of the lab's hosts).
			OK:      on.Share() >= 0.99 && on.Metric("rampart_conntrack_created_total") <= on.Metric(`rampart_gateway_synproxy_events_total{event="cookie_ok"}`)+10,
			Outcome: line(on) + fmt.Sprintf("; rampart's resident memory +%.1f MiB", float64(on.RSSGrowth())/(1<<20)),
			Details: []string{fmt.Sprintf("the proxy answered %.0f SYNs, %.0f cookies came back valid, %.0f connections spliced; %.0f entries created in the gateway's table",
				on.Metric(`rampart_gateway_synproxy_events_total{event="synack"}`), on.Metric(`rampart_gateway_synproxy_events_total{event="cookie_ok"}`),
				on.Metric(`rampart_gateway_synproxy_events_total{event="spliced"}`), on.Metric("rampart_conntrack_created_total"))}},
	}
}
