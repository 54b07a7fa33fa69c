package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// The loopback setup of issue 13: both resolvers and three NSD servers (the
// root, lab., bench.lab.) on loopback addresses of one host, with no veth
// in between, validation off on both, Unbound with 2 threads and rampart
// with its defaults. It runs in a network namespace of its own (this
// program runs itself again inside it), so that the servers can take port
// 53 on 127.0.1.x and nothing else on the machine sees them.

// loopbackNS is the namespace's name; the process ID keeps two runs apart.
var loopbackNS = fmt.Sprintf("rampart-bench-lo-%d", os.Getpid())

// runLoopback makes the namespace, runs this program inside it with
// -loopback-inside and the same flags, and removes the namespace, ending
// the processes the run left in it.
func runLoopback() {
	if out, err := runOut("ip", "netns", "add", loopbackNS); err != nil {
		fatalf("ip netns add: %v: %s", err, out)
	}
	atExit(func() {
		if out, _ := runOut("ip", "netns", "pids", loopbackNS); out != "" {
			for _, f := range strings.Fields(out) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_, _ = runOut("ip", "netns", "del", loopbackNS)
	})
	if out, err := runOut("ip", "netns", "exec", loopbackNS, "ip", "link", "set", "lo", "up"); err != nil {
		fatalf("lo up: %v: %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", loopbackNS, self, "-loopback-inside"}, os.Args[1:]...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fatalf("loopback run: %v", err)
	}
}

// The hierarchy: each zone on its own address, port 53, so that both
// resolvers follow real referrals; bench.lab. answers every name below it
// from a wildcard, so that any number of fresh names resolves.
var loopbackZones = []struct{ addr, zone, text string }{
	{"127.0.1.2", ".", `$ORIGIN .
$TTL 86400
.			SOA	a.root-servers.test. hostmaster.root-servers.test. 1 3600 600 86400 300
.			NS	a.root-servers.test.
a.root-servers.test.	A	127.0.1.2
lab.			NS	ns.tld.lab.
ns.tld.lab.		A	127.0.1.3
`},
	{"127.0.1.3", "lab.", `$ORIGIN lab.
$TTL 86400
@		SOA	ns.tld.lab. hostmaster.lab. 1 3600 600 86400 300
@		NS	ns.tld.lab.
ns.tld		A	127.0.1.3
bench		NS	ns.bench.lab.
ns.bench	A	127.0.1.4
`},
	{"127.0.1.4", "bench.lab.", `$ORIGIN bench.lab.
$TTL 3600
@		SOA	ns.bench.lab. hostmaster.bench.lab. 1 3600 600 86400 300
@		NS	ns.bench.lab.
ns		A	127.0.1.4
*		A	192.0.2.1
`},
}

const loopbackNSDConf = `server:
	ip-address: %s
	port: 53
	username: ""
	chroot: ""
	zonesdir: "%s"
	pidfile: "%s/nsd.pid"
	database: ""
	zonelistfile: "%s/zone.list"
	xfrdfile: "%s/xfrd.state"
	xfrdir: "%s"
	logfile: "%s/nsd.log"
	server-count: 1
	verbosity: 0
	hide-version: yes
	# Response rate limiting off: both resolvers ask from 127.0.0.1, and
	# the wildcard's answers would share one bucket of 200 per second.
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
remote-control:
	control-enable: no
zone:
	name: "%s"
	zonefile: "zone"
`

// Unbound as the issue describes it: 2 threads, no validator, the same
// cache as rampart's default (64 MiB) split as its documentation advises.
const loopbackUnboundConf = `server:
	interface: 127.0.0.1@5353
	root-hints: "%s"
	do-not-query-localhost: no
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: "%s/unbound.pid"
	module-config: "iterator"
	qname-minimisation: yes
	use-syslog: no
	logfile: ""
	verbosity: 0
	num-threads: %d
	so-reuseport: yes
	msg-cache-size: 21m
	rrset-cache-size: 43m
	msg-cache-slabs: 2
	rrset-cache-slabs: 2
	infra-cache-slabs: 2
	outgoing-range: 4096
	num-queries-per-thread: 4096
remote-control:
	control-enable: no
`

// loopbackInside runs the comparison inside the namespace.
func loopbackInside(bin string) {
	dir, err := os.MkdirTemp("", "rampart-bench-lo-")
	if err != nil {
		fatalf("%v", err)
	}
	atExit(func() { os.RemoveAll(dir) })
	for _, z := range loopbackZones {
		if out, err := runOut("ip", "addr", "add", z.addr+"/32", "dev", "lo"); err != nil {
			fatalf("ip addr add %s: %v: %s", z.addr, err, out)
		}
		zdir := filepath.Join(dir, "nsd-"+z.addr)
		if err := os.MkdirAll(zdir, 0o700); err != nil {
			fatalf("%v", err)
		}
		if err := os.WriteFile(filepath.Join(zdir, "zone"), []byte(z.text), 0o600); err != nil {
			fatalf("%v", err)
		}
		conf := filepath.Join(zdir, "nsd.conf")
		text := fmt.Sprintf(loopbackNSDConf, z.addr, zdir, zdir, zdir, zdir, zdir, zdir, z.zone)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			fatalf("%v", err)
		}
		start(dir, "nsd-"+z.addr, "nsd", "-d", "-c", conf)
		waitAnswer(netip.MustParseAddrPort(z.addr+":53"), z.zone, dns.TypeSOA)
	}
	hints := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(hints, []byte(".\t3600000\tNS\ta.root-servers.test.\na.root-servers.test.\t3600000\tA\t127.0.1.2\n"), 0o600); err != nil {
		fatalf("%v", err)
	}
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(loopbackUnboundConf, hints, dir, dir, *threads)), 0o600); err != nil {
		fatalf("%v", err)
	}
	ub := start(dir, "unbound", "unbound", "-d", "-c", conf)
	args := []string{"resolver", "--listen", "127.0.0.1:53", "--root-hints", hints,
		"--dnssec", "off", "--control", filepath.Join(dir, "rampart.sock"), "--log-level", "warn"}
	if *profile != "" {
		args = append(args, "--metrics", profileAddr)
	}
	rp := start(dir, "rampart", bin, args...)
	targets := []target{
		{"rampart", netip.MustParseAddrPort("127.0.0.1:53"), rp},
		{"unbound", netip.MustParseAddrPort("127.0.0.1:5353"), ub},
	}
	for _, t := range targets {
		waitAnswer(t.addr, "ns.bench.lab.", dns.TypeA)
	}
	fmt.Printf("loopback: rampart resolver (defaults, --dnssec off) vs Unbound %s (%d threads, iterator only), NSD %s for ., lab. and bench.lab.\n\n",
		unboundVersion(), *threads, nsdVersion())

	// 1. Cold resolution. The readiness check above asked one name of
	// bench.lab., so every round is of fresh names under zones both know:
	// the steady state of a resolver meeting new names.
	fmt.Printf("cold resolution of 2,000 distinct names (dnsperf -n 1 -q 100), %d rounds:\n", *coldRounds)
	cold := map[string][]float64{}
	cpu := map[string]float64{}
	sys := map[string]float64{}
	for r := 0; r < *coldRounds; r++ {
		names := writeNames(dir, fmt.Sprintf("lo-cold%d", r), 2000, fmt.Sprintf("lo%dc%%d.bench.lab A", r))
		for _, t := range targets {
			u0, s0 := cpuSeconds(t.pid)
			out := localDNSPerf(t.addr, names, "-n", "1", "-q", "100", "-t", "5")
			u1, s1 := cpuSeconds(t.pid)
			cpu[t.name] += u1 - u0 + s1 - s0
			sys[t.name] += s1 - s0
			cold[t.name] = append(cold[t.name], field(out, `Run time \(s\):\s+([0-9.]+)`))
			if got := strField(out, `Queries completed:\s+(\d+)`); got != "2000" {
				fmt.Printf("  %s answered %s of 2000 in round %d\n", t.name, got, r+1)
			}
		}
	}
	// rampart's own counters say what a cold name cost it upstream.
	if out, err := runOut(bin, "resolver", "stats", "--control", filepath.Join(dir, "rampart.sock")); err == nil {
		fmt.Printf("  rampart's counters after the cold rounds:\n")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "upstream") || strings.Contains(l, "queries") {
				fmt.Printf("    %s\n", l)
			}
		}
	}
	var ratios []float64
	for r := range cold["rampart"] {
		ratios = append(ratios, cold["rampart"][r]/cold["unbound"][r])
	}
	for _, t := range targets {
		perName := 1e6 / float64(2000**coldRounds)
		fmt.Printf("  %-8s median %6.3f s  (rounds %s), CPU %.1f µs per name (user %.1f, system %.1f)\n", t.name, median(cold[t.name]), fmtSecs(cold[t.name]),
			cpu[t.name]*perName, (cpu[t.name]-sys[t.name])*perName, sys[t.name]*perName)
	}
	fmt.Printf("  ratio rampart/unbound time: per round %s, median %.2f; CPU %.2f\n\n", fmtRatios(ratios), median(ratios), cpu["rampart"]/cpu["unbound"])

	if *profile != "" {
		loopbackProfile(dir, *profile, targets[0].addr)
	}

	if *coldOnly {
		return
	}

	// 2. Cached answers: 10,000 names, warmed, then dnsperf -c 8.
	hot := writeNames(dir, "lo-hot", 10000, "h%d.bench.lab A")
	for _, t := range targets {
		localDNSPerf(t.addr, hot, "-n", "1", "-q", "200")
	}
	fmt.Printf("cached answers (10,000 names, dnsperf -c 8 -q 500 -l 10 -T 2), %d rounds, interleaved:\n", *rounds)
	qps := map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		for _, t := range targets {
			out := localDNSPerf(t.addr, hot, "-c", "8", "-q", "500", "-l", "10", "-T", "2")
			qps[t.name] = append(qps[t.name], field(out, `Queries per second:\s+([0-9.]+)`))
		}
	}
	ratios = ratios[:0]
	for r := range qps["rampart"] {
		ratios = append(ratios, qps["rampart"][r]/qps["unbound"][r])
	}
	for _, t := range targets {
		fmt.Printf("  %-8s median %8.0f qps  (rounds %s)\n", t.name, median(qps[t.name]), fmtRuns(qps[t.name]))
	}
	fmt.Printf("  ratio rampart/unbound: per round %s, median %.2f\n", fmtRatios(ratios), median(ratios))
}

// target is one resolver under test.
type target struct {
	name string
	addr netip.AddrPort
	pid  int
}

// start runs a server in the background with its output in dir, ended at
// exit.
func start(dir, name, prog string, args ...string) int {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		fatalf("%s: %v", name, err)
	}
	atExit(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
	return cmd.Process.Pid
}

// waitAnswer waits until the server at addr answers the question.
func waitAnswer(addr netip.AddrPort, name string, qtype uint16) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(q, addr.String())
		if err == nil && r.Rcode == dns.RcodeSuccess {
			return
		}
		if time.Now().After(deadline) {
			fatalf("%s did not answer %s: %v", addr, name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func localDNSPerf(server netip.AddrPort, file string, args ...string) string {
	argv := append([]string{"-s", server.Addr().String(), "-p", strconv.Itoa(int(server.Port())), "-d", file}, args...)
	out, err := exec.Command("dnsperf", argv...).CombinedOutput()
	if err != nil {
		fatalf("dnsperf: %v: %s", err, out)
	}
	return string(out)
}

func fmtRatios(r []float64) string { return fmtFloats(r, 2) }

func nsdVersion() string {
	out, _ := runOut("nsd", "-v")
	if f := strings.Fields(out); len(f) >= 3 {
		return f[2]
	}
	return "?"
}

// loopbackProfile resolves 100,000 fresh names through rampart while its
// /debug/pprof endpoint records a CPU profile into file.
func loopbackProfile(dir, file string, addr netip.AddrPort) {
	names := writeNames(dir, "lo-profile", 100000, "p%d.bench.lab A")
	done := make(chan error, 1)
	go func() {
		out, err := exec.Command("curl", "-sf", "-o", file, "http://"+profileAddr+"/debug/pprof/profile?seconds=6").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	out := localDNSPerf(addr, names, "-n", "1", "-q", "100", "-t", "5")
	if err := <-done; err != nil {
		fatalf("profile: %v", err)
	}
	fmt.Printf("CPU profile of rampart resolving 100,000 fresh names (%s s) written to %s\n\n", strField(out, `Run time \(s\):\s+([0-9.]+)`), file)
}
