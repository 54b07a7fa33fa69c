package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/lab"
	"github.com/spf13/cobra"
)

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
		dir, err := os.MkdirTemp("", "rampart-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "rampart")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
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

// TestDemo runs `rampart lab demo` as a user would and checks the report
// and that the lab is gone afterwards.
func TestDemo(t *testing.T) {
	if err := lab.CheckPrivileges(); err != nil {
		t.Skipf("skipping the lab demo: %v", err)
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lab", "demo")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
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
	if bytes.Contains(out, []byte("FAILED")) {
		t.Errorf("demo reports a failure:\n%s", out)
	}
	if left := labLeft(string(m[1])); len(left) > 0 {
		t.Errorf("demo left namespaces: %v", left)
	}
}

// TestDemoInterrupted sends SIGINT to the demo at several points and checks
// that nothing of the lab is left.
func TestDemoInterrupted(t *testing.T) {
	if err := lab.CheckPrivileges(); err != nil {
		t.Skipf("skipping the lab demo: %v", err)
	}
	bin := buildBinary(t)
	for _, trigger := range []string{"Bringing up lab", "Scenario connectivity"} {
		t.Run(strings.Fields(trigger)[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "lab", "demo")
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
			if code := cmd.ProcessState.ExitCode(); code == 0 && strings.Contains(all.String(), "FAILED") {
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
// resolver whose socket --control names, as unbound-control -s does.
func TestResolverControlFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
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
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"resolver", "stats", "--control", path}, "queries 42\n"},
		{[]string{"resolver", "--control", path, "stats"}, "queries 42\n"},
		{[]string{"resolver", "flush", "--control", path, "example.lab"}, "flushed example.lab\n"},
	} {
		code, out, errOut := runCLI(tt.args...)
		if code != 0 || out != tt.want {
			t.Errorf("rampart %v: exit %d, stdout %q, stderr %q; want %q", tt.args, code, out, errOut, tt.want)
		}
	}
	if code, _, errOut := runCLI("resolver", "stats", "--control", path+".missing"); code != 1 || !strings.Contains(errOut, path+".missing") {
		t.Errorf("stats on a missing socket: exit %d, stderr %q; want exit 1 naming the socket", code, errOut)
	}
}
