// Command dns compares rampart's resolver with Unbound in the lab, in one
// run on the same machine: queries per second for cached answers (dnsperf),
// the time to resolve 2,000 distinct names cold through the lab hierarchy,
// and resident memory with many cached names. With -loopback it compares
// them on loopback instead, against NSD, without validation (loopback.go).
// Run it through run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/scenario"
)

var (
	rampartBin = flag.String("rampart", "bin/rampart", "rampart binary")
	quick      = flag.Bool("quick", false, "smaller runs (100k cached names, 5 s QPS runs)")
	rounds     = flag.Int("rounds", 3, "QPS rounds per resolver; the median is reported")
	threads    = flag.Int("threads", 2, "resolver threads (rampart: GOMAXPROCS)")
	coldRounds = flag.Int("cold-rounds", 5, "cold-resolution rounds per resolver: the first fully cold, the rest with fresh names under zones already known; the median is reported")
	coldOnly   = flag.Bool("cold-only", false, "measure cold resolution only")
	profile    = flag.String("profile", "", "after the cold rounds, resolve 100,000 more fresh names through rampart while taking a CPU profile of it into this file")
	loopback   = flag.Bool("loopback", false, "compare on loopback instead of the lab: NSD for ., lab. and bench.lab., validation off on both (loopback.go)")
	inside     = flag.Bool("loopback-inside", false, "internal: the -loopback run inside its network namespace")
)

// profileAddr is where rampart serves /debug/pprof inside the dns host
// when -profile is given.
const profileAddr = "127.0.0.1:9153"

const unboundConf = `server:
	interface: %s
	port: 5353
	access-control: 10.10.0.0/24 allow
	root-hints: "%s/root.hints"
	do-not-query-localhost: no
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: "%s/unbound.pid"
	module-config: "validator iterator"
	trust-anchor-file: "%s"
	qname-minimisation: yes
	use-syslog: no
	logfile: ""
	verbosity: 0
	num-threads: %d
	so-reuseport: yes
	msg-cache-size: %dm
	rrset-cache-size: %dm
	msg-cache-slabs: 2
	rrset-cache-slabs: 2
	infra-cache-slabs: 2
	key-cache-slabs: 2
	outgoing-range: 4096
	num-queries-per-thread: 4096
remote-control:
	control-enable: no
`

func main() {
	flag.Parse()
	log.SetFlags(0)
	if err := lab.CheckPrivileges(); err != nil {
		fatalf("%v", err)
	}
	bin, err := filepath.Abs(*rampartBin)
	if err != nil {
		fatalf("%v", err)
	}
	if *loopback || *inside {
		defer runCleanups()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() { fatalf("%v: stopping", <-sig) }()
		if *inside {
			loopbackInside(bin)
		} else {
			runLoopback()
		}
		return
	}
	ctx := context.Background()
	// Whatever ends the run, a failure (fatalf), an interrupt or its end,
	// takes the lab down with it.
	defer runCleanups()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { fatalf("%v: stopping", <-sig) }()
	l, err := lab.Up(ctx, lab.Standard(), nil)
	if err != nil {
		fatalf("%v", err)
	}
	atExit(func() {
		if err := l.Down(); err != nil {
			log.Print(err)
		}
	})
	dir, err := os.MkdirTemp("", "rampart-bench-dns-")
	if err != nil {
		fatalf("%v", err)
	}
	atExit(func() { os.RemoveAll(dir) })
	cacheMiB := 512
	// Info, not the lab's debug level: a log line per upstream query would
	// tax the resolver being measured.
	flags := []string{"--cache-size", fmt.Sprintf("%dMiB", cacheMiB), "--log-level", "info"}
	if *profile != "" {
		flags = append(flags, "--metrics", profileAddr)
	}
	d, err := scenario.StartDNS(ctx, l, bin, dir, flags...)
	if err != nil {
		fatalf("%v", err)
	}
	atExit(d.Stop)
	// Unbound gets the same total cache, split as its documentation
	// advises (rrset cache twice the message cache).
	conf := filepath.Join(dir, "unbound.conf")
	dnsAddr := l.Addr("dns", 4)
	// Both resolvers validate DNSSEC from the lab root's DS.
	text := fmt.Sprintf(unboundConf, dnsAddr, dir, dir, dir, d.Anchor, *threads, cacheMiB/3, cacheMiB*2/3)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		fatalf("%v", err)
	}
	ub, err := l.Host("dns").Start("unbound", "unbound", "-d", "-c", conf)
	if err != nil {
		fatalf("%v", err)
	}
	atExit(func() { ub.Stop() })
	time.Sleep(time.Second)
	targets := []struct {
		name string
		addr netip.AddrPort
		pid  func() int
	}{
		{"rampart", d.Resolver4, func() int { return pidOf(l, "dns", "rampart") }},
		{"unbound", netip.AddrPortFrom(dnsAddr, 5353), func() int { return pidOf(l, "dns", "unbound") }},
	}
	client := l.Host("client1")
	qpsDur := 10
	cached := 1_000_000
	if *quick {
		qpsDur, cached = 5, 100_000
	}
	fmt.Printf("rampart resolver vs Unbound %s, %d threads each, %d MiB cache each, lab %s\n\n", unboundVersion(), *threads, cacheMiB, l.Prefix)

	// 1. Cold resolution of 2,000 distinct names. The first round starts
	// from empty caches, so it includes priming, the chain of trust and
	// the proof that bench.lab. is insecure; later rounds ask 2,000 names
	// neither resolver has seen under zones both already know, which is
	// the steady state of a resolver meeting new names. A round lasts a
	// fraction of a second, so single rounds are noisy: the median counts.
	fmt.Printf("cold resolution of 2,000 distinct names (dnsperf -n 1 -q 100), %d rounds:\n", *coldRounds)
	coldRuns := map[string][]float64{}
	coldUser, coldSys := map[string]float64{}, map[string]float64{}
	for r := 0; r < *coldRounds; r++ {
		names := writeNames(dir, fmt.Sprintf("cold%d", r), 2000, fmt.Sprintf("r%dc%%d.bench.lab A", r))
		for _, t := range targets {
			u0, s0 := cpuSeconds(t.pid())
			out := dnsperf(ctx, client, t.addr, names, "-n", "1", "-q", "100", "-t", "5")
			u1, s1 := cpuSeconds(t.pid())
			coldUser[t.name] += u1 - u0
			coldSys[t.name] += s1 - s0
			coldRuns[t.name] = append(coldRuns[t.name], field(out, `Run time \(s\):\s+([0-9.]+)`))

			if got := strField(out, `Queries completed:\s+(\d+)`); got != "2000" {
				fmt.Printf("  %s answered %s of 2000 in round %d\n", t.name, got, r+1)
			}
		}
	}
	for _, t := range targets {
		fmt.Printf("  %-8s first %6.3f s, median %6.3f s  (rounds %s)\n", t.name, coldRuns[t.name][0], median(coldRuns[t.name]), fmtSecs(coldRuns[t.name]))
	}
	fmt.Printf("  CPU time over the %d rounds (user + system): rampart %.2f + %.2f s, unbound %.2f + %.2f s, ratio %.2f\n",
		*coldRounds, coldUser["rampart"], coldSys["rampart"], coldUser["unbound"], coldSys["unbound"],
		(coldUser["rampart"]+coldSys["rampart"])/(coldUser["unbound"]+coldSys["unbound"]))
	var ratios []float64
	for r := range coldRuns["rampart"] {
		ratios = append(ratios, coldRuns["rampart"][r]/coldRuns["unbound"][r])
	}
	fmt.Printf("  ratio rampart/unbound time: first %.2f, median of rounds %.2f, median of per-round ratios %.2f\n\n",
		ratios[0], median(coldRuns["rampart"])/median(coldRuns["unbound"]), median(ratios))
	if *profile != "" {
		takeProfile(ctx, l, dir, *profile, targets[0].addr)
	}
	if *coldOnly {
		return
	}

	// 2. Cached answers: 10,000 names, warmed, then dnsperf at full rate.
	hot := writeNames(dir, "hot", 10000, "h%d.bench.lab A")
	for _, t := range targets {
		dnsperf(ctx, client, t.addr, hot, "-n", "1", "-q", "200")
	}
	fmt.Printf("cached answers (10,000 names, dnsperf -c 8 -q 500 -l %d, %d rounds, median):\n", qpsDur, *rounds)
	qps := map[string]float64{}
	for _, t := range targets {
		var runs []float64
		for r := 0; r < *rounds; r++ {
			out := dnsperf(ctx, client, t.addr, hot, "-c", "8", "-q", "500", "-l", strconv.Itoa(qpsDur), "-T", "2")
			runs = append(runs, field(out, `Queries per second:\s+([0-9.]+)`))
		}
		sort.Float64s(runs)
		qps[t.name] = runs[len(runs)/2]
		fmt.Printf("  %-8s %10.0f qps  (runs %v)\n", t.name, qps[t.name], fmtRuns(runs))
	}
	fmt.Printf("  ratio rampart/unbound: %.2f\n\n", qps["rampart"]/qps["unbound"])

	// 3. Memory with many cached names.
	many := writeNames(dir, "many", cached, "m%d.bench.lab A")
	fmt.Printf("resident memory after caching %d names:\n", cached)
	rss := map[string]float64{}
	for _, t := range targets {
		before := rssMiB(t.pid())
		out := dnsperf(ctx, client, t.addr, many, "-n", "1", "-q", "500", "-c", "4", "-T", "2")
		after := rssMiB(t.pid())
		rss[t.name] = after
		fmt.Printf("  %-8s %7.1f MiB (was %.1f; %s queries answered)\n", t.name, after, before, strField(out, `Queries completed:\s+(\d+)`))
	}
	fmt.Printf("  ratio rampart/unbound: %.2f\n", rss["rampart"]/rss["unbound"])
}

// takeProfile resolves 100,000 fresh names through rampart while its
// /debug/pprof endpoint records a CPU profile, and copies the profile to
// file.
func takeProfile(ctx context.Context, l *lab.Lab, dir, file string, addr netip.AddrPort) {
	names := writeNames(dir, "profile", 100000, "p%d.bench.lab A")
	tmp := filepath.Join(dir, "cpu.pprof")
	done := make(chan error, 1)
	go func() {
		_, err := l.Host("dns").Run(ctx, "curl", "-sf", "-o", tmp, "http://"+profileAddr+"/debug/pprof/profile?seconds=6")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	out := dnsperf(ctx, l.Host("client1"), addr, names, "-n", "1", "-q", "100", "-t", "5")
	if err := <-done; err != nil {
		fatalf("profile: %v", err)
	}
	b, err := os.ReadFile(tmp)
	if err != nil {
		fatalf("%v", err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		fatalf("%v", err)
	}
	fmt.Printf("CPU profile of rampart resolving 100,000 fresh names (%s s) written to %s\n\n", strField(out, `Run time \(s\):\s+([0-9.]+)`), file)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtSecs(r []float64) string { return fmtFloats(r, 3) }

// fmtFloats writes v with prec decimals, separated by spaces.
func fmtFloats(v []float64, prec int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', prec, 64)
	}
	return strings.Join(s, " ")
}

// cleanups run at exit in reverse order, once.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atExit(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

func runCleanups() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

// fatalf removes what the run set up, then exits with the message: a
// failed run must not leave lab namespaces behind.
func fatalf(format string, args ...any) {
	runCleanups()
	log.Fatalf(format, args...)
}

func fmtRuns(r []float64) string { return fmtFloats(r, 0) }

func unboundVersion() string {
	out, _ := runOut("unbound", "-V")
	if m := regexp.MustCompile(`Version ([0-9.]+)`).FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return "?"
}

func writeNames(dir, name string, n int, format string) string {
	p := filepath.Join(dir, name+".txt")
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, format+"\n", i)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		fatalf("%v", err)
	}
	return p
}

func dnsperf(ctx context.Context, h *lab.Node, server netip.AddrPort, file string, args ...string) string {
	file = strings.TrimSuffix(strings.TrimSuffix(file, "-rampart"), "-unbound")
	argv := append([]string{"dnsperf", "-s", server.Addr().String(), "-p", strconv.Itoa(int(server.Port())), "-d", file}, args...)
	out, err := h.Run(ctx, argv...)
	if err != nil {
		fatalf("dnsperf: %v", err)
	}
	return string(out)
}

func field(out, re string) float64 {
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		fatalf("no %q in dnsperf output:\n%s", re, out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func strField(out, re string) string {
	if m := regexp.MustCompile(re).FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return "?"
}

func pidOf(l *lab.Lab, host, comm string) int {
	out, err := runOut("ip", "netns", "pids", l.Host(host).NS)
	if err != nil {
		fatalf("%v", err)
	}
	for _, f := range strings.Fields(out) {
		b, err := os.ReadFile("/proc/" + f + "/comm")
		if err == nil && strings.TrimSpace(string(b)) == comm {
			pid, _ := strconv.Atoi(f)
			return pid
		}
	}
	fatalf("no %s process in %s", comm, host)
	return 0
}

// cpuSeconds is the user and the system CPU time process pid has used. On a
// shared machine it is a steadier measure of a resolver's work than the
// wall-clock time of a run, though it also counts the kernel's work on the
// packets the process sends.
func cpuSeconds(pid int) (user, system float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fatalf("%v", err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ut / 100, st / 100 // USER_HZ is 100 on Linux
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fatalf("%v", err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}
