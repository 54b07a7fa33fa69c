package scenario

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/lab"
)

// TestNATRouterMode is issue 9's lab: rampart in router mode on gw with
// NAT, the outside hosts without a route to the inside prefix. Inside
// clients reach the outside and the outside sees only the wan address (a
// capture of web's link); an RFC 5780 discovery client (pion's, against
// coturn on web) reports endpoint-independent mapping and the default
// address-and-port-dependent filtering; unsolicited inbound traffic to
// the mapping reaches nobody; the port forward works from outside (the
// inside server sees the real client) and by hairpin from inside; and
// `rampart gateway nat` lists the translations.
func TestNATRouterMode(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("skipping: coturn is not installed (make deps installs it)")
	}
	client := stunClient(t)
	env := &lab.Env{Dir: t.TempDir(), Rampart: rampartBin}
	r := RunNAT(context.Background(), l, env, client)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Logf("stun-nat-behaviour: mapped to %s, mapping %s, filtering %s", r.STUN.Mapped, r.STUN.Mapping, r.STUN.Filtering)
	t.Logf("rampart gateway nat:\n%s", r.Listing)
	for k, v := range r.Metrics {
		if strings.HasPrefix(k, "rampart_nat_") && v != 0 {
			t.Logf("%s %v", k, v)
		}
	}
	for _, line := range r.LabResults("nat") {
		if !line.OK {
			t.Errorf("%s (%s): %s", line.Tried, line.Defence, line.Outcome)
		}
	}
	if !strings.Contains(r.Listing, "src=10.10.0.11") || !strings.Contains(r.Listing, "dst=203.0.113.1") {
		t.Errorf("rampart gateway nat lists no translation of client1:\n%s", r.Listing)
	}
	if r.STUN.Output != "" && r.STUNErr != nil {
		t.Log(r.STUN.Output)
	}
}

// TestNATFilteringByConfiguration: the filtering the discovery client
// reports is the one gateway.nat.filtering asks for (RFC 4787 REQ-8).
func TestNATFilteringByConfiguration(t *testing.T) {
	l := upLab(t)
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("skipping: coturn is not installed (make deps installs it)")
	}
	client := stunClient(t)
	ctx := context.Background()
	for _, h := range []string{"web", "root", "tld", "auth"} {
		if out, err := l.Host(h).Run(ctx, "ip", "route", "del", "10.10.0.0/24"); err != nil {
			t.Fatalf("%s: %v: %s", h, err, out)
		}
	}
	srv, err := StartSTUN(ctx, l, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for _, filtering := range []string{"endpoint-independent", "address-dependent"} {
		t.Run(filtering, func(t *testing.T) {
			g, err := StartRouter(ctx, l, rampartBin, t.TempDir(), NATPolicy, NATConfig+"    filtering: "+filtering+"\n")
			if err != nil {
				t.Fatal(err)
			}
			defer g.Stop()
			b, err := DiscoverNAT(ctx, l, "client1", client, srv.Primary)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(filtering, "-", " ")
			if b.Mapping != "endpoint independent" || b.Filtering != want {
				t.Errorf("mapping %q, filtering %q; want endpoint independent, %s\n%s", b.Mapping, b.Filtering, want, b.Output)
			}
		})
	}
}
