// Command proxy measures rampart's forward proxy against Squid on this
// machine, in one run: wrk sends requests through each proxy to one local
// origin, for an uncacheable response (Cache-Control: no-store) and a
// cacheable one (max-age), and reports requests per second and median
// latency, the median of several rounds, and the ratio rampart / Squid.
//
// rampart runs with its content filter on (a pattern looked for in every
// HTML body it fetches), its cache, and an access log; Squid as the
// equivalent forward proxy: memory cache of the same size, an access log,
// the same client ACL, and as many workers as rampart has cores (Squid's
// SMP mode, its shared memory cache). The proxies take turns, round by
// round, so that the machine's other load falls on both.
//
// It owns the benchmark only; it reads what wrk prints. Run it through
// run.sh, as root.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	rampartBin   = flag.String("rampart", "bin/rampart", "rampart binary")
	rounds       = flag.Int("rounds", 3, "rounds per proxy and case; the median is reported")
	seconds      = flag.Int("seconds", 10, "length of one wrk run")
	connections  = flag.Int("connections", 50, "wrk connections")
	threads      = flag.Int("threads", 1, "wrk threads")
	squidWorkers = flag.Int("squid-workers", runtime.NumCPU(), "Squid workers (SMP); rampart uses every core")
	bodySize     = flag.Int("body", 4096, "bytes of the origin's HTML body")
)

const (
	rampartAddr = "127.0.0.1:3128"
	squidAddr   = "127.0.0.1:3129"
	cacheMiB    = 64
)

const squidConf = `http_port %s
acl localnet src 127.0.0.0/8
http_access allow localnet
http_access deny all
workers %d
cache_mem %d MB
maximum_object_size_in_memory 512 KB
memory_cache_shared on
access_log stdio:%s/squid-access.log squid
cache_log %s/squid-cache.log
pid_filename %s/squid.pid
coredump_dir %s
shutdown_lifetime 1 seconds
via on
forwarded_for off
`

const rampartConf = `proxy:
  listen: [%q]
  allow_clients: [127.0.0.0/8]
  content:
    patterns: ['evil_payload(']
    action: block
    max_body: 4MiB
  cache:
    memory: %dMiB
  access_log: %s/rampart-access.log
`

// wrkScript sends absolute-form requests, as a client of a proxy does.
const wrkScript = `init = function(args)
  target = args[1]
end
request = function()
  return wrk.format("GET", target, {["Host"] = %q})
end
`

// cleanups run at the end of the run, also when it fails (fatalf): the
// proxies must not outlive it.
var cleanups []func()

// ending is set once the run is ending: a proxy that exits then is not a
// failure.
var ending atomic.Bool

func atExit(f func()) { cleanups = append(cleanups, f) }

func runCleanups() {
	ending.Store(true)
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
}

func fatalf(format string, args ...any) {
	log.Printf(format, args...)
	runCleanups()
	os.Exit(1)
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	defer runCleanups()
	dir, err := os.MkdirTemp("", "rampart-bench-proxy-")
	if err != nil {
		fatalf("%v", err)
	}
	atExit(func() { os.RemoveAll(dir) })
	// Squid drops to the user proxy: it must write its logs here.
	os.Chmod(dir, 0o777)
	ctx := context.Background()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { fatalf("%v: stopping", <-sig) }()

	origin, originAddr := startOrigin(*bodySize)
	atExit(func() { origin.Close() })
	originHost := "origin.bench:" + portOf(originAddr)
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 origin.bench\n"), 0o644)

	// rampart
	rconf := filepath.Join(dir, "rampart.yaml")
	os.WriteFile(rconf, []byte(fmt.Sprintf(rampartConf, rampartAddr, cacheMiB, dir)+"  hosts_file: "+hosts+"\n"), 0o644)
	rampart := exec.Command(*rampartBin, "--config", rconf, "--log-level", "warn", "proxy")
	rampart.Stderr = os.Stderr
	startProc(rampart)
	// Squid: it resolves origin.bench through its own hosts_file.
	sconf := filepath.Join(dir, "squid.conf")
	os.WriteFile(sconf, []byte(fmt.Sprintf(squidConf, squidAddr, *squidWorkers, cacheMiB, dir, dir, dir, dir)+"hosts_file "+hosts+"\n"), 0o644)
	squid := exec.Command("squid", "-N", "-f", sconf)
	squid.Stderr = os.Stderr
	startProc(squid)
	for _, a := range []string{rampartAddr, squidAddr} {
		if err := waitProxy(a, originHost); err != nil {
			fatalf("%s: %v (see %s)", a, err, dir)
		}
	}
	script := filepath.Join(dir, "proxy.lua")
	os.WriteFile(script, []byte(fmt.Sprintf(wrkScript, originHost)), 0o644)

	fmt.Printf("rampart proxy vs %s; wrk %d threads, %d connections, %d s runs, %d rounds; origin body %d bytes; %d CPUs, Squid workers %d\n\n",
		squidVersion(), *threads, *connections, *seconds, *rounds, *bodySize, runtime.NumCPU(), *squidWorkers)
	type result struct {
		rps, p50 []float64
		errs     int
	}
	cases := []string{"uncacheable", "cacheable"}
	proxies := []struct{ name, addr string }{{"rampart", rampartAddr}, {"squid", squidAddr}}
	res := map[string]*result{}
	for _, c := range cases {
		target := "http://" + originHost + "/" + c
		for _, p := range proxies {
			res[p.name+c] = &result{}
			// Warm: connections pooled, the cacheable response stored.
			if _, _, _, err := runWrk(ctx, p.addr, script, target, 2); err != nil {
				fatalf("%s %s: %v", p.name, c, err)
			}
		}
		for r := 0; r < *rounds; r++ {
			for _, p := range proxies {
				rps, p50, sockErrs, err := runWrk(ctx, p.addr, script, target, *seconds)
				if err != nil {
					fatalf("%s %s: %v", p.name, c, err)
				}
				res[p.name+c].rps = append(res[p.name+c].rps, rps)
				res[p.name+c].p50 = append(res[p.name+c].p50, p50)
				res[p.name+c].errs += sockErrs
				fmt.Printf("  round %d %-8s %-12s %10.0f req/s  p50 %7.3f ms  socket errors %d\n", r+1, p.name, c, rps, p50, sockErrs)
			}
		}
	}
	fmt.Printf("\n| case | rampart req/s | Squid req/s | ratio | rampart p50 | Squid p50 | socket errors (rampart, Squid) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cases {
		r, s := res["rampart"+c], res["squid"+c]
		fmt.Printf("| %s | %.0f | %.0f | %.2f | %.3f ms | %.3f ms | %d, %d |\n", c, median(r.rps), median(s.rps), median(r.rps)/median(s.rps), median(r.p50), median(s.p50), r.errs, s.errs)
	}
	hits := countLines(filepath.Join(dir, "rampart-access.log"), "TCP_MEM_HIT")
	shits := countLines(filepath.Join(dir, "squid-access.log"), "HIT")
	fmt.Printf("\naccess log hits: rampart %d, Squid %d\n", hits, shits)
}

func startOrigin(size int) (*http.Server, string) {
	line := []byte("<p>lorem ipsum dolor sit amet</p>\n")
	body := bytes.Repeat(line, size/len(line)+1)[:size]
	mux := http.NewServeMux()
	mux.HandleFunc("/uncacheable", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
	mux.HandleFunc("/cacheable", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	return srv, l.Addr().String()
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// waitProxy waits until a request through the proxy reaches the origin.
func waitProxy(proxy, originHost string) error {
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", proxy, time.Second)
		if err == nil {
			fmt.Fprintf(c, "GET http://%s/uncacheable HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", originHost, originHost)
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			if bytes.HasPrefix(b, []byte("HTTP/1.1 200")) {
				return nil
			}
			last = fmt.Errorf("answer %q", firstLine(b))
		} else {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

var (
	rpsRE  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p50RE  = regexp.MustCompile(`(?m)^\s+50%\s+([0-9.]+)(us|ms|s)`)
	non2RE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	sockRE = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk runs wrk through proxy and returns requests per second, the
// median latency in milliseconds and the socket errors (time-outs
// included), which count against the proxy's figure but do not end the
// run. A response other than 2xx ends it: the comparison would be void.
func runWrk(ctx context.Context, proxy, script, target string, secs int) (float64, float64, int, error) {
	out, err := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(*threads), "-c", strconv.Itoa(*connections), "-d", strconv.Itoa(secs)+"s",
		"--latency", "-s", script, "http://"+proxy+"/", "--", target).CombinedOutput()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%v: %s", err, out)
	}
	if m := non2RE.FindString(string(out)); m != "" {
		return 0, 0, 0, fmt.Errorf("wrk: %s\n%s", m, out)
	}
	sockErrs := 0
	if m := sockRE.FindStringSubmatch(string(out)); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			sockErrs += n
		}
	}
	m := rpsRE.FindStringSubmatch(string(out))
	l := p50RE.FindStringSubmatch(string(out))
	if m == nil || l == nil {
		return 0, 0, 0, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	p50, _ := strconv.ParseFloat(l[1], 64)
	switch l[2] {
	case "us":
		p50 /= 1000
	case "s":
		p50 *= 1000
	}
	return rps, p50, sockErrs, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func squidVersion() string {
	out, _ := exec.Command("squid", "-v").Output()
	return strings.TrimPrefix(firstLine(out), "Squid Cache: Version ")
}

func countLines(path, substr string) int {
	data, _ := os.ReadFile(path)
	return strings.Count(string(data), substr)
}

// startProc starts c in a process group of its own (Squid's workers are
// its children), killed when this program dies, stopped at exit; a proxy
// that dies during the run ends it.
func startProc(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		fatalf("%s: %v", c.Path, err)
	}
	done := make(chan struct{})
	go func() {
		c.Wait()
		close(done)
		if !ending.Load() {
			fatalf("%s exited: %v", c.Path, c.ProcessState)
		}
	}()
	atExit(func() { <-done })
	atExit(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		time.AfterFunc(5*time.Second, func() { syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
	})
}
