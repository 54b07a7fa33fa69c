package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/internal/cleantmp"
	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/labtest"
	"github.com/spf13/cobra"
)

// TestMain gives the run a temporary folder of its own (TMPDIR, inherited
// by the rampart processes the tests start) and fails it when anything but
// the binary buildBinary makes is left there.
func TestMain(m *testing.M) { os.Exit(cleantmp.Main(m, nil, "bin")) }

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestHelp walks the whole command tree: every registered command has help
// that exits 0, shows its own description, and never claims to be
// unimplemented.
func TestHelp(t *testing.T) {
	root := newApp(os.Stdout, os.Stderr).rootCommand()
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			p := append(append([]string{}, path...), sub.Name())
			t.Run(strings.Join(p, "_"), func(t *testing.T) {
				code, out, errOut := runCLI(append(p, "--help")...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				want := sub.Short
				if sub.Long != "" {
					want = strings.SplitN(sub.Long, "\n", 2)[0]
				}
				if !strings.Contains(out, want) {
					t.Errorf("help of %v lacks its description %q", p, want)
				}
				if strings.Contains(strings.ToLower(out), "not implemented") {
					t.Errorf("help of %v says not implemented", p)
				}
			})
			walk(sub, p)
		}
	}
	walk(root, nil)
	code, out, _ := runCLI("--help")
	if code != 0 {
		t.Fatalf("rampart --help exit %d", code)
	}
	for _, c := range root.Commands() {
		if !c.Hidden && c.Name() != "help" && !strings.Contains(out, c.Name()) {
			t.Errorf("rampart --help does not list %s", c.Name())
		}
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("lab:\n  topolgy: x.yaml\n"), 0o600)
	badTopo := filepath.Join(dir, "topo.yaml")
	os.WriteFile(badTopo, []byte("networks:\n  - name: n\n    prefixes: [10.0.0.0/24]\nhosts:\n  - name: a\n    interfaces:\n      - {name: eth0, network: m}\n"), 0o600)
	tests := []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"--no-such-flag"}, 2, "unknown flag"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"--log-format", "xml", "version"}, 2, "--log-format"},
		{[]string{"--config", bad, "version"}, 2, bad + `:2:3: unknown key "topolgy" in lab`},
		{[]string{"--config", filepath.Join(dir, "missing.yaml"), "version"}, 2, "no such file"},
		{[]string{"lab", "check", badTopo}, 2, badTopo + `:7:9: interface a.eth0: unknown network "m"`},
		{[]string{"lab", "check"}, 2, "takes 1 argument"},
		{[]string{"lab", "--topology", badTopo, "up"}, 2, "unknown network"},
		{[]string{"version", "extra"}, 2, "takes no arguments"},
		{[]string{"resolver", "--lab-weaken", "--listen", "127.0.0.1:0"}, 2, "refused unless the lab sets RAMPART_LAB_WEAKEN"},
		{[]string{"resolver", "--lab-weaken-bailiwick", "--listen", "127.0.0.1:0"}, 2, "refused unless the lab sets RAMPART_LAB_WEAKEN"},
		{[]string{"resolver", "--dnssec", "maybe", "--listen", "127.0.0.1:0"}, 2, "use on or off"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("rampart %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, errOut, tt.code, tt.wantErr)
		}
	}
	// The refused topology's only host is "a": no run may have created it.
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if lab.NamePattern.MatchString(e.Name()) && strings.HasSuffix(e.Name(), "-a") {
			t.Errorf("a refused topology created namespace %s", e.Name())
		}
	}
}

func TestLabCheckAndTopology(t *testing.T) {
	code, out, _ := runCLI("lab", "topology")
	if code != 0 || !strings.Contains(out, "name: gw") {
		t.Fatalf("lab topology: exit %d", code)
	}
	f := filepath.Join(t.TempDir(), "std.yaml")
	os.WriteFile(f, []byte(out), 0o600)
	code, out, errOut := runCLI("lab", "check", f)
	if code != 0 || !strings.Contains(out, "PREFIX-attacker") {
		t.Fatalf("lab check of the standard topology: exit %d, %s %s", code, out, errOut)
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binPath = filepath.Join(cleantmp.Dir(), "bin", "rampart")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			t.Logf("%s", out)
			return
		}
		// The demo's NAT scenario runs pion's RFC 5780 client, which
		// `make build` puts beside rampart.
		stun := filepath.Join(filepath.Dir(binPath), "stun-nat-behaviour")
		if out, err := exec.Command("go", "build", "-o", stun, "github.com/pion/stun/v3/cmd/stun-nat-behaviour").CombinedOutput(); err != nil {
			binErr = err
			t.Logf("%s", out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var prefixRE = regexp.MustCompile(`Bringing up lab (rp[0-9a-f]{4})`)

func labLeft(prefix string) []string {
	var left []string
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			left = append(left, e.Name())
		}
	}
	return left
}

// demoCommand runs `rampart lab demo` with a temporary folder of its own,
// which the test checks is empty afterwards, and extra arguments.
func demoCommand(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	tmp := t.TempDir()
	t.Cleanup(func() {
		if left := cleantmp.Left(tmp); len(left) > 0 {
			t.Errorf("the demo left %v in its temporary folder", left)
		}
	})
	cmd := exec.CommandContext(ctx, buildBinary(t), append(args, "lab", "demo")...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	return cmd
}

var (
	summaryRE  = regexp.MustCompile(`\nSummary: (\d+) of (\d+) defences held`)
	expectedRE = regexp.MustCompile(`Every outcome \((\d+) of (\d+)\) was the expected one\.\n`)
	failedRE   = regexp.MustCompile(`\n  #\d+ +(FAILED|INCONCLUSIVE) `)
	progressRE = regexp.MustCompile(`\n +\d+s: \d+ trigger queries \(\d+ unanswered\), \d+ spoofed replies sent \(\d+/s\)\n`)
)

// TestDemo runs `rampart lab demo` as a user would and checks the report
// (its width, its summary), the progress of the attacks, and that the lab
// and the temporary files are gone afterwards.
func TestDemo(t *testing.T) {
	if err := lab.CheckPrivileges(); err != nil {
		t.Skipf("skipping the lab demo: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The captures go to a folder of the test's, named in the configuration.
	captures := t.TempDir()
	conf := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(conf, []byte("lab:\n  captures: "+captures+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := demoCommand(t, ctx, "--config", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	report, _, _ := bytes.Cut(out[bytes.Index(out, []byte("\nReport\n"))+1:], []byte("\nLab rp"))
	for i, l := range strings.Split(string(report), "\n") {
		if n := utf8.RuneCountInString(l); n > lab.ReportWidth {
			t.Errorf("report line %d is %d columns wide: %q", i+1, n, l)
		}
	}
	if m := summaryRE.FindSubmatch(report); m == nil || string(m[1]) == "0" {
		t.Errorf("report lacks its summary, or no defence held:\n%s", report)
	}
	if m := expectedRE.FindSubmatch(report); m == nil || string(m[1]) != string(m[2]) {
		t.Errorf("report does not end saying every outcome was the expected one:\n%s", report)
	}
	if !progressRE.Match(out) {
		t.Errorf("the attacks printed no progress:\n%s", out)
	}
	if !bytes.Contains(out, []byte("Captures and logs: "+captures+"\n")) {
		t.Errorf("demo does not name its captures folder %s", captures)
	}
	m := prefixRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("demo did not print its lab prefix:\n%s", out)
	}
	for _, want := range []string{"TCP echo client1 → web (IPv4)", "UDP echo client1 → web (IPv6)", "capture on gw wan", "removed"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if m := failedRE.Find(out); m != nil {
		t.Errorf("demo reports a failure (%q):\n%s", m, out)
	}
	if left := labLeft(string(m[1])); len(left) > 0 {
		t.Errorf("demo left namespaces: %v", left)
	}
}

// TestDemoInterrupted sends SIGINT to the demo at several points and checks
// that nothing of the lab is left, nor its temporary captures folder.
func TestDemoInterrupted(t *testing.T) {
	if err := lab.CheckPrivileges(); err != nil {
		t.Skipf("skipping the lab demo: %v", err)
	}
	for _, trigger := range []string{"Bringing up lab", "Scenario connectivity"} {
		t.Run(strings.Fields(trigger)[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := demoCommand(t, ctx)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var prefix string
			var all strings.Builder
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				all.WriteString(line + "\n")
				if m := prefixRE.FindStringSubmatch(line); m != nil {
					prefix = m[1]
				}
				if strings.Contains(line, trigger) {
					cmd.Process.Signal(syscall.SIGINT)
					break
				}
			}
			go func() { _, _ = bufio.NewReader(stdout).WriteTo(&all) }()
			err = cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code == 0 && failedRE.MatchString(all.String()) {
				t.Errorf("interrupted demo exited 0 with a failure")
			}
			_ = err
			if prefix == "" {
				t.Fatalf("the demo did not print its prefix:\n%s", all.String())
			}
			if left := labLeft(prefix); len(left) > 0 {
				t.Errorf("demo interrupted at %q left namespaces: %v", trigger, left)
			}
			if _, err := os.Stat(filepath.Join(lab.StateDir, prefix)); err == nil {
				t.Errorf("demo interrupted at %q left its state folder", trigger)
			}
		})
	}
}

// TestResolverControlFlag: 'rampart resolver stats' and 'flush' reach the
// resolver whose socket --control names, as unbound-control -s does, say on
// standard error which socket they talked to, show --control in their own
// help, and name the socket when nothing listens there.
func TestResolverControlFlag(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl.sock")
	c := &server.Control{Path: path, Commands: map[string]server.ControlFunc{
		"stats": func([]string) (string, error) { return "queries 42\n", nil },
		"flush": func(a []string) (string, error) { return "flushed " + strings.Join(a, " ") + "\n", nil },
	}}
	l, err := c.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Serve(ctx, l)
	conf := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(conf, []byte("resolver:\n  control: "+path+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"resolver", "stats", "--control", path}, "queries 42\n"},
		{[]string{"resolver", "--control", path, "stats"}, "queries 42\n"},
		{[]string{"--config", conf, "resolver", "stats"}, "queries 42\n"},
		{[]string{"resolver", "flush", "--control", path, "example.lab"}, "flushed example.lab\n"},
		{[]string{"--config", conf, "resolver", "flush", "example.lab"}, "flushed example.lab\n"},
	} {
		code, out, errOut := runCLI(tt.args...)
		if code != 0 || out != tt.want || errOut != "control socket: "+path+"\n" {
			t.Errorf("rampart %v: exit %d, stdout %q, stderr %q; want %q and the socket named on stderr", tt.args, code, out, errOut, tt.want)
		}
	}
	// A socket file nobody listens on any more (connection refused) and
	// one that does not exist.
	stale := filepath.Join(dir, "stale.sock")
	sl, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	sl.(*net.UnixListener).SetUnlinkOnClose(false)
	sl.Close()
	for _, p := range []string{stale, path + ".missing"} {
		for _, cmd := range [][]string{{"resolver", "stats"}, {"resolver", "flush", "example.lab"}} {
			args := append(cmd, "--control", p)
			code, out, errOut := runCLI(args...)
			want := "rampart: cannot reach the resolver's control socket " + p + ": "
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "control socket: "+p+"\n"+want) {
				t.Errorf("rampart %v: exit %d, stdout %q, stderr %q; want exit 1 naming the socket", args, code, out, errOut)
			}
		}
	}
	for _, cmd := range []string{"stats", "flush"} {
		code, out, _ := runCLI("resolver", cmd, "--help")
		flags, _, _ := strings.Cut(out, "Global Flags:")
		if code != 0 || !strings.Contains(flags, "--control string   control socket of the running resolver (default: resolver.control from --config, else /run/rampart/resolver.sock)") ||
			!strings.Contains(out, "A first line on standard error names the socket") {
			t.Errorf("rampart resolver %s --help does not show --control among its own flags:\n%s", cmd, out)
		}
	}
}

// TestLabDown: 'rampart lab down PREFIX' says what it removes of a running
// lab (namespaces, the processes inside, its log folder) and removes it;
// asked again, it says there is nothing to remove. Only the test's own lab
// is named, so that labs of other runs on the machine stay.
func TestLabDown(t *testing.T) {
	l := labtest.Up(t)
	p, err := l.Host("client1").Start("sleeper", "sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec becomes sleep once it has entered the namespace.
	deadline := time.Now().Add(5 * time.Second)
	for {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.PID()))
		if strings.TrimSpace(string(comm)) == "sleep" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, out, errOut := runCLI("lab", "down", l.Prefix)
	want := "Lab " + l.Prefix + " removed:\n" +
		"  namespaces (13):  attacker auth client1 client2 dns fw gw root sw-inside sw-outside sw-transit tld web\n" +
		fmt.Sprintf("  processes (1):    sleep, pid %d, in client1\n", p.PID()) +
		"  log folder:       " + filepath.Join(lab.StateDir, l.Prefix) + "\n"
	if code != 0 || out != want {
		t.Errorf("lab down %s: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", l.Prefix, code, errOut, out, want)
	}
	if left := labLeft(l.Prefix); len(left) > 0 {
		t.Errorf("lab down left %v", left)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Error("the process inside the lab still runs")
	}
	code, out, _ = runCLI("lab", "down", l.Prefix)
	if want := "No lab " + l.Prefix + " found on this machine: nothing to remove.\n"; code != 0 || out != want {
		t.Errorf("lab down again: exit %d, %q; want %q", code, out, want)
	}
	if code, _, errOut := runCLI("lab", "down", "rp12"); code != 2 || !strings.Contains(errOut, `"rp12" is not a lab prefix`) {
		t.Errorf("lab down rp12: exit %d, %q", code, errOut)
	}
}

// An attack run exits 1 when it is inconclusive, and says why.
func TestAttackVerdict(t *testing.T) {
	for _, tt := range []struct {
		r    lab.Result
		code int
		out  string
	}{
		{lab.Result{Kind: lab.Defence, OK: true, Outcome: "not poisoned"}, 0, "Outcome: not poisoned\n"},
		{lab.Result{Kind: lab.Proof, OK: true, Outcome: "POISONED, zone hijacked"}, 0, "Outcome: POISONED, zone hijacked\n"},
		{lab.Result{Kind: lab.Defence, Outcome: "POISONED, zone hijacked"}, 1, "Outcome: POISONED, zone hijacked\n"},
		{lab.Result{Kind: lab.Defence, Inconclusive: true, Outcome: "inconclusive: the check after the attack got no answer: read: connection refused"}, 1,
			"Outcome: inconclusive: the check after the attack got no answer: read: connection refused\n"},
	} {
		var buf bytes.Buffer
		err := attackVerdict(&buf, tt.r)
		code := 0
		var f *failure
		if errors.As(err, &f) {
			code = f.code
		}
		if code != tt.code || buf.String() != tt.out || (err != nil) != (tt.code != 0) {
			t.Errorf("%+v: exit %d (%v), printed %q; want exit %d, %q", tt.r, code, err, buf.String(), tt.code, tt.out)
		}
		if tt.r.Inconclusive && (err == nil || !strings.Contains(err.Error(), "inconclusive")) {
			t.Errorf("an inconclusive run's error %v does not say so", err)
		}
	}
}
