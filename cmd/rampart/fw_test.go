package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFwCheck(t *testing.T) {
	code, out, errOut := runCLI("fw", "check", "testdata/gateway.rules")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Default: deny (incoming), allow (outgoing), deny (routed)", "[ 1] 22/tcp", "ALLOW IN", "REJECT IN   198.51.100.0/24", "[ 4] 10.10.0.5 9899/sctp on wan ALLOW IN"} {
		if !strings.Contains(out, want) {
			t.Errorf("fw check output lacks %q:\n%s", want, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.rules")
	os.WriteFile(bad, []byte("default deny incoming\nallow 8080:80/tcp\nallow shh\n"), 0o600)
	code, _, errOut = runCLI("fw", "check", bad)
	if code != 2 || !strings.Contains(errOut, bad+":2:") || !strings.Contains(errOut, bad+":3:7: unknown service \"shh\"") {
		t.Errorf("bad policy: exit %d, %q", code, errOut)
	}
}

func TestFwTest(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.20", "--dport", "22"}, "allow: testdata/gateway.rules:5: allow ssh"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.20", "--dport", "23"}, "deny: default deny incoming"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.20", "--dport", "8080"}, "reject: testdata/gateway.rules:7:"},
		{[]string{"--from", "10.10.0.11", "--to", "203.0.113.80", "--dport", "443", "--in", "lan"}, "allow: default allow outgoing"},
		{[]string{"--from", "2001:db8:100::66", "--to", "fd00:10::20", "--dport", "80"}, "allow: testdata/gateway.rules:6: allow http"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.20", "--proto", "icmp"}, "allow: implicit rule"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.20", "--proto", "SCTP", "--dport", "22"}, "deny: default deny incoming"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.20", "--proto", "6", "--dport", "22"}, "allow: testdata/gateway.rules:5: allow ssh"},
		// Ports of the other protocols that have them.
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.5", "--proto", "sctp", "--dport", "9899"}, "allow: testdata/gateway.rules:8: allow in on wan to 10.10.0.5 port 9899 proto sctp"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.5", "--proto", "sctp", "--dport", "22"}, "deny: default deny incoming"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.5", "--proto", "dccp", "--dport", "9899"}, "deny: default deny incoming"},
		{[]string{"--from", "198.51.100.66", "--to", "10.10.0.5", "--proto", "udplite", "--dport", "9899"}, "deny: default deny incoming"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(append([]string{"fw", "test", "testdata/gateway.rules"}, tt.args...)...)
		if code != 0 || !strings.HasPrefix(out, tt.want) {
			t.Errorf("fw test %v: exit %d, %q %q; want %q", tt.args, code, out, errOut, tt.want)
		}
	}
	if code, _, _ := runCLI("fw", "test", "testdata/gateway.rules", "--from", "x", "--to", "10.0.0.1"); code != 2 {
		t.Errorf("bad address: exit %d, want 2", code)
	}
	if code, _, errOut := runCLI("fw", "test", "testdata/gateway.rules", "--from", "10.0.0.2", "--to", "10.0.0.1", "--proto", "tcpp"); code != 2 || !strings.Contains(errOut, `--proto "tcpp"`) {
		t.Errorf("bad protocol: exit %d, %q; want 2 naming --proto", code, errOut)
	}
}
