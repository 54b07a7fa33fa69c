package scenario

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// unboundConf runs Unbound as a plain iterative resolver (no validator)
// with the lab's root hints, the peer rampart's answers are compared with.
const unboundConf = `server:
	interface: %LISTEN%
	port: 5353
	access-control: 10.10.0.0/24 allow
	root-hints: "%DIR%/root.hints"
	do-not-query-localhost: no
	username: ""
	chroot: ""
	directory: "%DIR%"
	pidfile: "%DIR%/unbound.pid"
	module-config: "iterator"
	qname-minimisation: yes
	use-syslog: no
	logfile: ""
	verbosity: 1
	num-threads: 1
	so-reuseport: no
remote-control:
	control-enable: no
`

// TestSameAnswersAsUnbound resolves the same names through rampart and
// through Unbound in the same lab and compares the answers.
func TestSameAnswersAsUnbound(t *testing.T) {
	l := upLab(t)
	unbound, err := exec.LookPath("unbound")
	if err != nil {
		t.Skip("skipping: unbound is not installed (make deps installs it)")
	}
	dir := t.TempDir()
	d, err := StartDNS(context.Background(), l, rampartBin, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	conf := filepath.Join(dir, "unbound.conf")
	text := unboundConf
	for k, v := range map[string]string{"%LISTEN%": l.Addr("dns", 4).String(), "%DIR%": dir} {
		text = strings.ReplaceAll(text, k, v)
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := l.Host("dns").Start("unbound", unbound, "-d", "-c", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ub := netip.AddrPortFrom(l.Addr("dns", 4), 5353)
	if err := waitDNS(context.Background(), l.Host("dns"), ub, p); err != nil {
		t.Fatalf("unbound: %v", err)
	}
	names := []struct {
		name  string
		qtype uint16
	}{
		{"www.example.lab", dns.TypeA}, {"www.example.lab", dns.TypeAAAA}, {"example.lab", dns.TypeMX},
		{"example.lab", dns.TypeTXT}, {"example.lab", dns.TypeNS}, {"example.lab", dns.TypeSOA},
		{"store.example.lab", dns.TypeA}, {"www.shop.lab", dns.TypeA}, {"www.lame.lab", dns.TypeA}, {"www.lame2.lab", dns.TypeA},
		{"nope.example.lab", dns.TypeA}, {"www.example.lab", dns.TypeMX}, {"mail.example.lab", dns.TypeA},
		{"lab", dns.TypeNS}, {"nope.lab", dns.TypeA}, {"big.example.lab", dns.TypeTXT},
	}
	client := l.Host("client1")
	for _, n := range names {
		var got [2]string
		for i, srv := range []netip.AddrPort{d.Resolver4, ub} {
			var r *dns.Msg
			var err error
			for try := 0; try < 3; try++ {
				if r, _, err = Ask(client, srv, n.name, n.qtype, true); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("%s %s via %s: %v", n.name, dns.TypeToString[n.qtype], srv, err)
			}
			got[i] = answerSet(r)
		}
		if got[0] != got[1] {
			t.Errorf("%s %s:\n  rampart: %s\n  unbound: %s", n.name, dns.TypeToString[n.qtype], got[0], got[1])
		}
	}
}
