package scenario

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

// TestFirewallScenario runs the demo's firewall scenario: allowed
// connections succeed, denied ones time out and are counted, reject sends
// an RST the client sees, replies to inside clients pass, and a spoofed ACK
// is dropped as invalid.
func TestFirewallScenario(t *testing.T) {
	l := upLab(t)
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	for _, r := range runFirewall(context.Background(), l, env) {
		if !r.OK {
			t.Errorf("%s: %s → %s", r.Tried, r.Defence, r.Outcome)
		}
	}
}

// TestFirewallReload: SIGHUP with a bad policy keeps the old one; with a
// good one that no longer allows ssh, the established ssh connection is cut.
func TestFirewallReload(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	stop, err := StartServers(l.Host("client2"), 22, 80)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	g, err := StartGateway(ctx, l, rampartBin, t.TempDir(), GatewayPolicy)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	defer func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.Log())
		}
	}()
	var ssh net.Conn
	err = l.Host("attacker").Do(func() error {
		var err error
		ssh, err = net.DialTimeout("tcp", netip.AddrPortFrom(l.Addr("client2", 4), 22).String(), 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ssh.Close()
	echo := func() error {
		ssh.SetDeadline(time.Now().Add(time.Second))
		if _, err := ssh.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := io.ReadFull(ssh, buf)
		return err
	}
	if err := echo(); err != nil {
		t.Fatalf("ssh echo before reload: %v", err)
	}
	if err := g.Reload("default deny incoming\nallow shh\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := echo(); err != nil {
		t.Fatalf("a refused reload broke the established connection: %v", err)
	}
	if !strings.Contains(g.Log(), "policy reload refused") || !strings.Contains(g.Log(), `unknown service \"shh\"`) {
		t.Errorf("the refused reload is not logged with its reason:\n%s", g.Log())
	}
	if err := g.Reload("default deny incoming\ndefault allow outgoing\nallow http\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := echo(); err == nil {
		t.Fatal("the ssh connection survived a policy that no longer allows ssh")
	}
	if got := Connect(ctx, l.Host("attacker"), netip.AddrPortFrom(l.Addr("client2", 4), 80), time.Second); got != "connected" {
		t.Errorf("http after reload: %s", got)
	}
	if got := Connect(ctx, l.Host("attacker"), netip.AddrPortFrom(l.Addr("client2", 4), 22), time.Second); got != "timeout" {
		t.Errorf("new ssh connection after reload: %s, want timeout", got)
	}
	m, err := g.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rampart_datapath_lan_rx_frames_total", "rampart_datapath_wan_tx_frames_total", "rampart_conntrack_entries"} {
		if m[k] <= 0 {
			t.Errorf("metric %s = %v, want > 0", k, m[k])
		}
	}
	if _, ok := m["rampart_datapath_wan_kernel_drops_total"]; !ok {
		t.Error("the rings' drop counter is not exported")
	}
}
