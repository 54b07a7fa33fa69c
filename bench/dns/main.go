// Command dns compares rampart's resolver with Unbound in the lab, in one
// run on the same machine: queries per second for cached answers (dnsperf),
// the time to resolve 2,000 distinct names cold through the lab hierarchy,
// and resident memory with many cached names. Run it through run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/scenario"
)

var (
	rampartBin = flag.String("rampart", "bin/rampart", "rampart binary")
	quick      = flag.Bool("quick", false, "smaller runs (100k cached names, 5 s QPS runs)")
	rounds     = flag.Int("rounds", 3, "QPS rounds per resolver; the median is reported")
	threads    = flag.Int("threads", 2, "resolver threads (rampart: GOMAXPROCS)")
)

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
		log.Fatal(err)
	}
	bin, err := filepath.Abs(*rampartBin)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	l, err := lab.Up(ctx, lab.Standard(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Down()
	dir, err := os.MkdirTemp("", "rampart-bench-dns-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cacheMiB := 512
	// Info, not the lab's debug level: a log line per upstream query would
	// tax the resolver being measured.
	d, err := scenario.StartDNS(ctx, l, bin, dir, "--cache-size", fmt.Sprintf("%dMiB", cacheMiB), "--log-level", "info")
	if err != nil {
		log.Fatal(err)
	}
	defer d.Stop()
	// Unbound gets the same total cache, split as its documentation
	// advises (rrset cache twice the message cache).
	conf := filepath.Join(dir, "unbound.conf")
	dnsAddr := l.Addr("dns", 4)
	// Both resolvers validate DNSSEC from the lab root's DS.
	text := fmt.Sprintf(unboundConf, dnsAddr, dir, dir, dir, d.Anchor, *threads, cacheMiB/3, cacheMiB*2/3)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		log.Fatal(err)
	}
	ub, err := l.Host("dns").Start("unbound", "unbound", "-d", "-c", conf)
	if err != nil {
		log.Fatal(err)
	}
	defer ub.Stop()
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

	// 1. Cold resolution of 2,000 distinct names.
	cold := writeNames(dir, "cold", 2000, "c%d.bench.lab A")
	fmt.Println("cold resolution of 2,000 distinct names (dnsperf -n 1 -q 100):")
	coldTimes := map[string]float64{}
	for _, t := range targets {
		out := dnsperf(ctx, client, t.addr, cold+"-"+t.name, "-n", "1", "-q", "100", "-t", "5")
		coldTimes[t.name] = field(out, `Run time \(s\):\s+([0-9.]+)`)
		fmt.Printf("  %-8s %6.3f s  (%s answered)\n", t.name, coldTimes[t.name], strField(out, `Queries completed:\s+(\d+)`))
	}
	fmt.Printf("  ratio rampart/unbound time: %.2f\n\n", coldTimes["rampart"]/coldTimes["unbound"])

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

func fmtRuns(r []float64) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strings.Join(s, " ")
}

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
		log.Fatal(err)
	}
	return p
}

func dnsperf(ctx context.Context, h *lab.Node, server netip.AddrPort, file string, args ...string) string {
	file = strings.TrimSuffix(strings.TrimSuffix(file, "-rampart"), "-unbound")
	argv := append([]string{"dnsperf", "-s", server.Addr().String(), "-p", strconv.Itoa(int(server.Port())), "-d", file}, args...)
	out, err := h.Run(ctx, argv...)
	if err != nil {
		log.Fatalf("dnsperf: %v", err)
	}
	return string(out)
}

func field(out, re string) float64 {
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		log.Fatalf("no %q in dnsperf output:\n%s", re, out)
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
		log.Fatal(err)
	}
	for _, f := range strings.Fields(out) {
		b, err := os.ReadFile("/proc/" + f + "/comm")
		if err == nil && strings.TrimSpace(string(b)) == comm {
			pid, _ := strconv.Atoi(f)
			return pid
		}
	}
	log.Fatalf("no %s process in %s", comm, host)
	return 0
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}
