package scenario

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"testing"
)

// stunClient builds pion's stun-nat-behaviour (a tool of this module,
// pinned in go.mod) into dir.
func stunClient(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stun-nat-behaviour")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pion/stun/v3/cmd/stun-nat-behaviour").CombinedOutput(); err != nil {
		t.Fatalf("build stun-nat-behaviour: %v\n%s", err, out)
	}
	return bin
}

// TestNATBehaviourKernelBaseline runs the RFC 5780 discovery client from
// an inside host against coturn on the outside, through the Linux
// kernel's own masquerade on gw (nftables): the baseline that rampart's
// NAT is held to. Linux maps endpoint-independently (the same public port
// for every destination, since the port stays free) and filters by
// address and port (only the exact peer's replies match a connection):
// what the client must report. It also shows the tool chain (coturn with
// two addresses, the client, the parsing of its verdict) working, so a
// failure of rampart's own NAT test is rampart's.
func TestNATBehaviourKernelBaseline(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("skipping: coturn is not installed (make deps installs it)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: nftables is not installed (make deps installs it)")
	}
	client := stunClient(t)
	ctx := context.Background()
	srv, err := StartSTUN(ctx, l, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	// Without translation the server sees the client's own address, and
	// nothing filters. (The client cannot say "no NAT": it compares the
	// mapped address with its socket's, which is bound to 0.0.0.0.)
	b, err := DiscoverNAT(ctx, l, "client1", client, srv.Primary)
	if err != nil {
		t.Fatalf("%v\nserver log:\n%s", err, srv.Log())
	}
	if b.Mapped.Addr() != l.Addr("client1", 4) || b.Filtering != "endpoint independent" {
		t.Errorf("without NAT: mapped %s, filtering %q; want client1's address, endpoint independent\n%s", b.Mapped, b.Filtering, b.Output)
	}

	undo, err := KernelMasquerade(ctx, l, netip.MustParsePrefix("10.10.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	defer undo()
	b, err = DiscoverNAT(ctx, l, "client1", client, srv.Primary)
	if err != nil {
		t.Fatalf("%v\nserver log:\n%s", err, srv.Log())
	}
	t.Logf("kernel masquerade: mapped to %s, mapping %s, filtering %s", b.Mapped, b.Mapping, b.Filtering)
	if want := netip.MustParseAddr("203.0.113.1"); b.Mapped.Addr() != want {
		t.Errorf("kernel masquerade: the server saw %s, want gw's wan address %s", b.Mapped, want)
	}
	if b.Mapping != "endpoint independent" || b.Filtering != "address and port dependent" {
		t.Errorf("kernel masquerade: mapping %q, filtering %q; want endpoint independent, address and port dependent\n%s", b.Mapping, b.Filtering, b.Output)
	}
}

func TestParseNATBehaviour(t *testing.T) {
	out := `stun-nat-behaviour INFO: Mapping Test I: Regular binding request
stun-nat-behaviour INFO: Received XOR-MAPPED-ADDRESS: 203.0.113.1:40000
stun-nat-behaviour INFO: Received XOR-MAPPED-ADDRESS: 203.0.113.1:40000
stun-nat-behaviour WARNING: => NAT mapping behavior: endpoint independent
stun-nat-behaviour WARNING: => NAT filtering behavior: address and port dependent
`
	b := ParseNATBehaviour(out)
	if b.Mapping != "endpoint independent" || b.Filtering != "address and port dependent" || b.Mapped != netip.MustParseAddrPort("203.0.113.1:40000") {
		t.Errorf("got %+v", b)
	}
	b = ParseNATBehaviour("x WARNING: NAT mapping behavior: inconclusive\nx WARNING: NAT filtering behavior: inconclusive\n")
	if b.Mapping != "inconclusive" || b.Filtering != "inconclusive" {
		t.Errorf("got %+v", b)
	}
}
