package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

// profiling, with -profile DIR, records where rampart's gateway spends its
// time during each round's UDP and TCP runs: a CPU profile from the
// gateway's own /debug/pprof/profile (on its metrics listener) and, when
// perf is installed, a count of the process's system calls (so that
// syscalls per forwarded packet can be read beside the packet counts) and
// a perf record of it, kernel included (the send path's cost is mostly
// in the kernel), and one of the whole machine (the gateway's receive
// side runs in the sender's softirqs).
type profiling struct {
	dir   string
	node  *lab.Node // the host the gateway runs on
	pid   int
	round int
}

// start begins recording the run named what for d and returns a function
// that waits for both recordings and says where they are.
func (p *profiling) start(ctx context.Context, what string, d time.Duration) func() string {
	base := filepath.Join(p.dir, fmt.Sprintf("round%d-%s", p.round, what))
	pprofDone := make(chan error, 1)
	go func() { pprofDone <- fetchProfile(p.node, d, base+".pprof") }()
	var perf, record, all *exec.Cmd
	if path, err := exec.LookPath("perf"); err == nil && p.pid > 0 {
		secs := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
		pid := strconv.Itoa(p.pid)
		perf = exec.CommandContext(ctx, path, "stat", "-x", ",", "-o", base+".syscalls",
			"-e", "raw_syscalls:sys_enter", "-e", "syscalls:sys_enter_sendmmsg", "-e", "syscalls:sys_enter_ppoll",
			"-p", pid, "--", "sleep", secs)
		if perf.Start() != nil {
			perf = nil
		}
		// The kernel's share: what the system calls do (perf report -i).
		record = exec.CommandContext(ctx, path, "record", "-q", "-F", "997", "-g", "-o", base+".perf", "-p", pid, "--", "sleep", secs)
		if record.Start() != nil {
			record = nil
		}
		// The whole machine: the work done for the gateway's frames in
		// other processes' softirqs (the sender's veth transmit runs gw's
		// receive path, AF_PACKET's ring copy and the kernel's own IP
		// input) is in no profile of the gateway process.
		all = exec.CommandContext(ctx, path, "record", "-q", "-a", "-F", "997", "-g", "-o", base+".all.perf", "--", "sleep", secs)
		if all.Start() != nil {
			all = nil
		}
	}
	return func() string {
		var notes []string
		if err := <-pprofDone; err != nil {
			notes = append(notes, "pprof: "+err.Error())
		} else {
			notes = append(notes, base+".pprof")
		}
		if perf != nil && perf.Wait() == nil {
			notes = append(notes, syscallCounts(base+".syscalls"))
		}
		if record != nil && record.Wait() == nil {
			notes = append(notes, base+".perf")
		}
		if all != nil && all.Wait() == nil {
			notes = append(notes, base+".all.perf")
		}
		return strings.Join(notes, "; ")
	}
}

// fetchProfile asks the gateway on node for a CPU profile of d and writes
// it to path.
func fetchProfile(node *lab.Node, d time.Duration, path string) error {
	c, err := dialMetrics(node)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d + 10*time.Second))
	secs := int(d.Round(time.Second) / time.Second)
	if _, err := fmt.Fprintf(c, "GET /debug/pprof/profile?seconds=%d HTTP/1.0\r\nHost: gateway\r\n\r\n", max(secs, 1)); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(c, 64<<20))
	if err != nil {
		return err
	}
	head, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok || !strings.Contains(head, " 200 ") {
		return fmt.Errorf("profile: %.100q", head)
	}
	return os.WriteFile(path, []byte(body), 0o644)
}

// syscallCounts summarises perf stat's CSV output.
func syscallCounts(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(f[2], "raw_syscalls:"), "syscalls:sys_enter_")+" "+f[0])
	}
	return "syscalls: " + strings.Join(out, ", ")
}
