//go:build linux

package datapath

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// lab is a throwaway topology for one test: A (10.99.0.1) -- veth -- B
// (two bare ports, where the datapath runs) -- veth -- C (10.99.0.2).
// Every name carries a per-run random prefix, and everything is removed
// in t.Cleanup, also when the test fails.
type lab struct {
	t          testing.TB
	prefix     string
	a, b, c    string // namespace names
	aIf, cIf   string // host ends in A and C
	lanIf, wan string // bridge ports in B
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and AF_PACKET sockets")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs root: and the ip command (iproute2) to build namespaces: ", err)
	}
}

func run(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newLab(t testing.TB) *lab {
	needRoot(t)
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	p := "rpdp" + hex.EncodeToString(rnd[:])
	l := &lab{t: t, prefix: p, a: p + "a", b: p + "b", c: p + "c",
		aIf: p + "a0", cIf: p + "c0", lanIf: p + "l", wan: p + "w"}
	for _, ns := range []string{l.a, l.b, l.c} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			// Deleting a namespace destroys the veths inside it.
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Logf("cleanup: ip netns del %s: %v %s", ns, err, out)
			}
		})
	}
	run(t, "ip", "link", "add", l.aIf, "netns", l.a, "type", "veth", "peer", "name", l.lanIf, "netns", l.b)
	run(t, "ip", "link", "add", l.cIf, "netns", l.c, "type", "veth", "peer", "name", l.wan, "netns", l.b)
	run(t, "ip", "-n", l.a, "addr", "add", "10.99.0.1/24", "dev", l.aIf)
	run(t, "ip", "-n", l.c, "addr", "add", "10.99.0.2/24", "dev", l.cIf)
	for _, x := range [][2]string{{l.a, l.aIf}, {l.c, l.cIf}, {l.b, l.lanIf}, {l.b, l.wan}, {l.a, "lo"}, {l.c, "lo"}} {
		run(t, "ip", "-n", x[0], "link", "set", x[1], "up")
	}
	// The bridge's ports carry no addresses; keep IPv6 from giving them
	// link-local ones and chattering on them.
	l.inNS(l.b, func() error {
		for _, ifname := range []string{l.lanIf, l.wan} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+ifname+"/disable_ipv6", []byte("1"), 0); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		return nil
	})
	// A and C stand for hosts behind real wires: checksums filled in,
	// frames no larger than the MTU.
	l.inNS(l.a, func() error { return SetOffloads(l.aIf, OffloadTSO|OffloadGSO|OffloadTxChecksum, false) })
	l.inNS(l.c, func() error { return SetOffloads(l.cIf, OffloadTSO|OffloadGSO|OffloadTxChecksum, false) })
	return l
}

// inNS runs fn on a thread that has entered namespace ns. The thread stays
// locked and dies with the goroutine, so it never returns to the pool in
// the wrong namespace. Sockets fn creates stay in ns for good.
func (l *lab) inNS(ns string, fn func() error) {
	l.t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		l.t.Fatal(err)
	}
}
