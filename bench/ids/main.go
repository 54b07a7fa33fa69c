// Command ids measures rampart's IDS against Snort 3 offline, in one run
// on the same machine, capture and literals: `rampart inspect --rules`
// and Snort 3 (one packet thread, Hyperscan and Aho-Corasick) read a
// generated capture of HTTP, DNS and TLS traffic with 100, 1,000 and
// 10,000 content rules, pinned to one core, and it reports the
// throughput per core, the rule loading time, the peak resident memory
// and the alerts, the medians of -rounds rounds and the ratios.
//
// Throughput per core is the capture's frame bytes (the packets as
// captured, without the pcap file's headers) times 8 over the process's
// CPU time (user and system, every thread). "Packets" is over the CPU
// time of the run less that of the same engine loading the same rules
// and reading a capture with no packets (which is the rule loading
// time); "whole run" over all of it. Both engines are pinned with
// taskset to one core (-cpu), rampart also with GOMAXPROCS=1: `rampart
// inspect` inspects with one worker, as Snort with -z 1 has one packet
// thread, and its runtime's other threads share that core.
//
// Both engines read the same capture with checksums ignored, and the
// rule sets hold the same literals with the same nocase on the same
// protocols (ids/internal/traffic.ContentRules). Snort runs with the
// configuration of /work/shared/snort/run.sh (stream, http_inspect, dns
// and ssl bound by port and by the wizard) and queues large enough to
// log every rule that matches a packet (Snort's defaults queue 5 fast
// pattern matches and log 3 events per packet). Snort inspects TCP only
// as reassembled (its search_engine.detect_raw_tcp is off by default),
// rampart both the packets and the reassembled stream. The first round's
// alerts are compared per rule.
//
// With -naive it also runs ids/detect's benchmark of detection alone
// against its naive mode (every rule searched on its own): `rampart
// inspect` has no way to run that mode.
//
// It owns the benchmark only. Run it through run.sh, as root.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rampart-fw/rampart/datapath"
)

var (
	rampartBin  = flag.String("rampart", "bin/rampart", "rampart binary, built with -tags hyperscan")
	inputsBin   = flag.String("writeinputs", "bin/ids-writeinputs", "the inputs' generator (ids/internal/traffic/writeinputs)")
	dir         = flag.String("dir", "bin/ids-bench", "working directory: the inputs (kept between runs of the same -size) and the engines' outputs")
	size        = flag.String("size", "200MB", "bytes of frames in the generated capture (kB, MB, GB: powers of 1000)")
	ruleCounts  = flag.String("rules", "100,1000,10000", "rule counts, comma-separated")
	rounds      = flag.Int("rounds", 3, "rounds; each runs every engine once on every rule count, and the median is reported")
	snortPrefix = flag.String("snort", "/opt/snort", "Snort 3's installation prefix (/work/shared/snort/build.sh)")
	searches    = flag.String("search", "hyperscan,ac_full", "Snort's search methods, comma-separated")
	core        = flag.Int("cpu", 1, "the core both engines are pinned to")
	naive       = flag.Bool("naive", true, "also run ids/detect's benchmark against its naive mode")
	detectTest  = flag.String("detect-test", "bin/ids-detect.test", "ids/detect's test binary, built with -tags hyperscan, for -naive")
)

// result is one engine's run over one capture.
type result struct {
	cpu, wall time.Duration
	rssKiB    int64
	alerts    map[int]int // by sid
	total     int
	ownSecs   float64 // Snort's own timing of its packet processing
}

func (r result) gbps(bytes int64, cpu time.Duration) float64 {
	if cpu <= 0 {
		return 0
	}
	return float64(bytes) * 8 / cpu.Seconds() / 1e9
}

// engine is rampart or Snort with one search method.
type engine struct {
	name string
	run  func(rules int, pcap string) (result, error)
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	var counts []int
	for _, f := range strings.Split(*ruleCounts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-rules: %q is not a positive count", f)
		}
		counts = append(counts, n)
	}
	if *rounds < 1 {
		return errors.New("-rounds: want at least 1")
	}
	if strings.Trim(*searches, ", ") != "" {
		if _, err := os.Stat(filepath.Join(*snortPrefix, "bin/snort")); err != nil {
			return fmt.Errorf("no Snort 3 in %s (build it with /work/shared/snort/build.sh, see its README; -search \"\" runs rampart alone): %w", *snortPrefix, err)
		}
	}
	if err := inputs(); err != nil {
		return err
	}
	capture, empty := filepath.Join(*dir, "capture.pcap"), filepath.Join(*dir, "empty.pcap")
	packets, bytes, err := captureBytes(capture)
	if err != nil {
		return err
	}
	engines := []engine{{"rampart", runRampart}}
	for _, m := range strings.Split(*searches, ",") {
		m := strings.TrimSpace(m)
		if m == "" {
			continue
		}
		engines = append(engines, engine{"snort-" + m, func(n int, pcap string) (result, error) { return runSnort(m, n, pcap) }})
	}
	fmt.Printf("%s (%s) vs %s; capture %s: %d packets, %d bytes of frames; rules %v; %d rounds; pinned to CPU %d; load average %s\n\n",
		rampartVersion(), *rampartBin, snortVersion(), capture, packets, bytes, counts, *rounds, *core, loadavg())

	type key struct {
		engine string
		rules  int
	}
	full, load := map[key][]result{}, map[key][]result{}
	for r := range *rounds {
		for _, n := range counts {
			for _, e := range engines {
				l, err := e.run(n, empty)
				if err != nil {
					return fmt.Errorf("%s, %d rules, empty capture: %w", e.name, n, err)
				}
				f, err := e.run(n, capture)
				if err != nil {
					return fmt.Errorf("%s, %d rules: %w", e.name, n, err)
				}
				k := key{e.name, n}
				load[k] = append(load[k], l)
				full[k] = append(full[k], f)
				fmt.Printf("  round %d %-17s %6d rules: load %6.3f s CPU; run %7.3f s CPU, %7.3f s wall, %6.0f MiB; %.3f Gbit/s per core on packets; %d alerts",
					r+1, e.name, n, l.cpu.Seconds(), f.cpu.Seconds(), f.wall.Seconds(), float64(f.rssKiB)/1024, f.gbps(bytes, f.cpu-l.cpu), f.total)
				if f.ownSecs > 0 {
					fmt.Printf("; Snort's own timing %.3f s = %.3f Gbit/s", f.ownSecs, float64(bytes)*8/f.ownSecs/1e9)
				}
				fmt.Println()
			}
		}
	}

	med := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	pktGbps := func(k key) float64 {
		v := make([]float64, len(full[k]))
		for i := range full[k] {
			v[i] = full[k][i].gbps(bytes, full[k][i].cpu-load[k][i].cpu)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Printf("\nload average %s\n\n", loadavg())
	fmt.Println("| rules | engine | Gbit/s per core, packets | Gbit/s per core, whole run | CPU s | wall s | rule loading: CPU s | wall s | max RSS MiB | alerts |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range counts {
		for _, e := range engines {
			k := key{e.name, n}
			cpu := med(full[k], func(r result) float64 { return r.cpu.Seconds() })
			fmt.Printf("| %d | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.0f | %d |\n", n, e.name, pktGbps(k), float64(bytes)*8/cpu/1e9, cpu,
				med(full[k], func(r result) float64 { return r.wall.Seconds() }),
				med(load[k], func(r result) float64 { return r.cpu.Seconds() }),
				med(load[k], func(r result) float64 { return r.wall.Seconds() }),
				med(full[k], func(r result) float64 { return float64(r.rssKiB) / 1024 }), full[k][0].total)
		}
	}
	fmt.Println("\n| rules | Snort | rampart / Snort, packets per core | whole run | rule loading (CPU) | max RSS | alerts per rule |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---|")
	for _, n := range counts {
		rk := key{"rampart", n}
		for _, e := range engines[1:] {
			k := key{e.name, n}
			cpu := func(k key) float64 { return med(full[k], func(r result) float64 { return r.cpu.Seconds() }) }
			lcpu := func(k key) float64 { return med(load[k], func(r result) float64 { return r.cpu.Seconds() }) }
			rss := func(k key) float64 { return med(full[k], func(r result) float64 { return float64(r.rssKiB) }) }
			fmt.Printf("| %d | %s | %.2f | %.2f | %.2f | %.2f | %s |\n", n, strings.TrimPrefix(e.name, "snort-"), pktGbps(rk)/pktGbps(k), cpu(k)/cpu(rk),
				lcpu(rk)/lcpu(k), rss(rk)/rss(k), compareAlerts(full[rk][0].alerts, full[k][0].alerts, filepath.Join(*dir, fmt.Sprintf("alerts-%d-%s.diff", n, e.name))))
		}
	}
	if *naive {
		return naiveBench(counts)
	}
	return nil
}

// inputs writes the capture and the rules into -dir unless they are
// there for this -size and these counts.
func inputs() error {
	stamp := filepath.Join(*dir, "inputs.txt")
	want := fmt.Sprintf("size %s rules %s\n", *size, *ruleCounts)
	if have, err := os.ReadFile(stamp); err == nil && string(have) == want {
		return nil
	}
	out, err := exec.Command(*inputsBin, "-out", *dir, "-size", *size, "-rules", *ruleCounts).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", *inputsBin, err, out)
	}
	return os.WriteFile(stamp, []byte(want), 0o644)
}

// captureBytes counts the capture's packets and the bytes of its
// frames as captured.
func captureBytes(path string) (packets, bytes int64, err error) {
	src, err := datapath.OpenCapture(path)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	for {
		_, ci, err := src.Next()
		if errors.Is(err, io.EOF) {
			return packets, bytes, nil
		}
		if err != nil {
			return 0, 0, err
		}
		packets++
		bytes += int64(ci.CaptureLength)
	}
}

// measure runs name with args pinned to -cpu, with env added to the
// environment, and returns its CPU time, wall time, peak resident memory
// and output.
func measure(env []string, name string, args ...string) (result, []byte, error) {
	c := exec.Command("taskset", append([]string{"-c", strconv.Itoa(*core), name}, args...)...)
	c.Env = append(os.Environ(), env...)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	t0 := time.Now()
	err := c.Run()
	wall := time.Since(t0)
	if err != nil {
		return result{}, []byte(out.String()), fmt.Errorf("%s: %v\n%s", strings.Join(c.Args, " "), err, tail(out.String(), 2000))
	}
	ru := c.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return result{cpu: cpu, wall: wall, rssKiB: ru.Maxrss}, []byte(out.String()), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var rampartAlertRE = regexp.MustCompile(`(?m)^1:(\d+):\d+\s+.*\s(\d+)$`)

func runRampart(n int, pcap string) (result, error) {
	r, out, err := measure([]string{"GOMAXPROCS=1"}, *rampartBin, "inspect", "--rules", filepath.Join(*dir, fmt.Sprintf("rules-%d.rules", n)), pcap)
	if err != nil {
		return r, err
	}
	if strings.Contains(string(out), "rule skipped") {
		return r, fmt.Errorf("rampart skipped rules:\n%s", tail(string(out), 2000))
	}
	r.alerts = map[int]int{}
	for _, m := range rampartAlertRE.FindAllStringSubmatch(string(out), -1) {
		sid, _ := strconv.Atoi(m[1])
		k, _ := strconv.Atoi(m[2])
		r.alerts[sid] += k
		r.total += k
	}
	return r, nil
}

// snortConf is /work/shared/snort/run.sh's configuration, with queues
// that log every rule that matches a packet (up to 100 fast pattern
// matches, Snort's most, and 64 events: an event queue of 100,000 made
// Snort's resident memory ten times larger, 1 GB).
const snortConf = `HOME_NET = '[10.0.0.0/8,192.168.0.0/16,172.16.0.0/12]'
EXTERNAL_NET = 'any'
include '%[1]s/etc/snort/snort_defaults.lua'

network = { checksum_eval = 'none' }
stream = { }
stream_ip = { }
stream_icmp = { }
stream_tcp = { }
stream_udp = { }
http_inspect = { }
dns = { }
ssl = { }
wizard = default_wizard
binder =
{
    { when = { proto = 'udp', ports = '53', role = 'server' }, use = { type = 'dns' } },
    { when = { proto = 'tcp', ports = '53', role = 'server' }, use = { type = 'dns' } },
    { when = { service = 'dns' },  use = { type = 'dns' } },
    { when = { service = 'http' }, use = { type = 'http_inspect' } },
    { when = { service = 'ssl' },  use = { type = 'ssl' } },
    { use = { type = 'wizard' } },
}
search_engine = { search_method = '%[2]s', max_queue_events = 100 }
event_queue = { max_queue = 64, log = 64 }
ips = { variables = default_variables, include = '%[3]s' }
alert_json = { file = true, fields = 'rule' }
`

var (
	snortRuleRE   = regexp.MustCompile(`"rule"\s*:\s*"1:(\d+):\d+"`)
	snortTimingRE = regexp.MustCompile(`(?m)^timing\n(?:.*\n)*?\s+seconds:\s+([0-9.]+)`)
)

func runSnort(method string, n int, pcap string) (result, error) {
	out := filepath.Join(*dir, fmt.Sprintf("snort-%s-%d", method, n))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return result{}, err
	}
	rules, _ := filepath.Abs(filepath.Join(*dir, fmt.Sprintf("rules-%d.snort.rules", n)))
	conf := filepath.Join(out, "snort.lua")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(snortConf, *snortPrefix, method, rules)), 0o644); err != nil {
		return result{}, err
	}
	alerts := filepath.Join(out, "alert_json.txt")
	os.Remove(alerts)
	r, log, err := measure([]string{"LD_LIBRARY_PATH=" + filepath.Join(*snortPrefix, "lib")}, filepath.Join(*snortPrefix, "bin/snort"),
		"-c", conf, "--daq-dir", filepath.Join(*snortPrefix, "lib/daq"), "-r", pcap, "-l", out, "-k", "none", "-z", "1")
	os.WriteFile(filepath.Join(out, "snort.log"), log, 0o644)
	if err != nil {
		return r, err
	}
	if m := snortTimingRE.FindSubmatch(log); m != nil {
		r.ownSecs, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	r.alerts = map[int]int{}
	f, err := os.Open(alerts)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := snortRuleRE.FindSubmatch(sc.Bytes()); m != nil {
			sid, _ := strconv.Atoi(string(m[1]))
			r.alerts[sid]++
			r.total++
		}
	}
	return r, sc.Err()
}

// compareAlerts says whether the two engines raised the same alerts per
// rule, and writes the rules where they differ to path.
func compareAlerts(rampart, snort map[int]int, path string) string {
	var diff []string
	sids := map[int]bool{}
	for s := range rampart {
		sids[s] = true
	}
	for s := range snort {
		sids[s] = true
	}
	for _, s := range slices.Sorted(func(yield func(int) bool) {
		for s := range sids {
			if !yield(s) {
				return
			}
		}
	}) {
		if rampart[s] != snort[s] {
			diff = append(diff, fmt.Sprintf("sid %d: rampart %d, snort %d", s, rampart[s], snort[s]))
		}
	}
	if len(diff) == 0 {
		os.Remove(path)
		return fmt.Sprintf("same (%d rules)", len(sids))
	}
	os.WriteFile(path, []byte(strings.Join(diff, "\n")+"\n"), 0o644)
	return fmt.Sprintf("%d of %d rules differ (%s)", len(diff), len(sids), path)
}

var benchRE = regexp.MustCompile(`(?m)^BenchmarkInspect/rules=(\d+)/(engine|naive)\S*\s.*\s([0-9.]+) cpu-MB/s`)

// naiveBench runs ids/detect's BenchmarkInspect pinned to -cpu: the
// engine and its naive mode on the benchmark's payloads, detection
// alone.
func naiveBench(counts []int) error {
	var ns []string
	for _, n := range counts {
		ns = append(ns, strconv.Itoa(n))
	}
	pat := fmt.Sprintf("^BenchmarkInspect$/^rules=(%s)$/", strings.Join(ns, "|"))
	got := map[string]string{}
	for _, mode := range []struct{ name, benchtime string }{{"engine", "1s"}, {"naive", "1x"}} {
		_, out, err := measure([]string{"GOMAXPROCS=1"}, *detectTest, "-test.run", "^$", "-test.bench", pat+mode.name+"$", "-test.benchtime", mode.benchtime)
		if err != nil {
			return err
		}
		for _, m := range benchRE.FindAllStringSubmatch(string(out), -1) {
			got[m[1]+m[2]] = m[3]
		}
	}
	fmt.Println("\nids/detect BenchmarkInspect (detection alone, payload bytes per CPU second; -naive):")
	fmt.Println("\n| rules | engine MB/s | naive MB/s | engine / naive |")
	fmt.Println("|---:|---:|---:|---:|")
	for _, n := range ns {
		e, _ := strconv.ParseFloat(got[n+"engine"], 64)
		v, _ := strconv.ParseFloat(got[n+"naive"], 64)
		r := 0.0
		if v > 0 {
			r = e / v
		}
		fmt.Printf("| %s | %.1f | %.2f | %.0f |\n", n, e, v, r)
	}
	return nil
}

func rampartVersion() string {
	out, _ := exec.Command(*rampartBin, "version").Output()
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

func snortVersion() string {
	c := exec.Command(filepath.Join(*snortPrefix, "bin/snort"), "-V")
	c.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(*snortPrefix, "lib"))
	out, _ := c.CombinedOutput()
	if m := regexp.MustCompile(`Version ([0-9.]+)`).FindSubmatch(out); m != nil {
		return "Snort " + string(m[1])
	}
	return "Snort (version unknown)"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
