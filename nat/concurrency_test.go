package nat

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ipproto"
)

// TestConcurrent races new translated flows, inbound packets, lookups,
// deletion, expiry and listing (go test -race); afterwards every mapping
// made was freed exactly once, with its port.
func TestConcurrent(t *testing.T) {
	r := newRig(t, Config{Filtering: EndpointIndependent, PerHost: 64, MaxMappings: 1024})
	const workers, flows = 4, 400
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range flows {
				src := netip.MustParseAddrPort(fmt.Sprintf("10.10.0.%d:%d", 1+(w*flows+i)%50, 1024+i%97))
				dst := netip.MustParseAddrPort(fmt.Sprintf("198.51.100.%d:53", i%5))
				p := conntrack.Packet{Flow: flow.Key{Src: src, Dst: dst, Proto: ipproto.UDP}, Side: lan, WScale: -1}
				res, out := r.tr.Create(r.tbl, &p)
				if out == Translated && i%3 == 0 {
					r.tbl.Delete(res.ID)
				}
				in := conntrack.Packet{Flow: flow.Key{Src: dst, Dst: netip.MustParseAddrPort(wanAddr + ":1100"), Proto: ipproto.UDP}, Side: wan, WScale: -1}
				if r.tr.Admits(&in) {
					r.tr.Create(r.tbl, &in)
				}
				if i%50 == 0 {
					r.tr.Mappings()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 200 {
			r.clk.Advance(3 * time.Second)
			r.tbl.Sweep(r.clk.Now())
		}
	}()
	wg.Wait()
	r.tbl.Flush()
	st := r.tr.Stats()
	if st.Mappings != 0 || st.Expired != st.Allocations || len(r.tr.byInside) != 0 || len(r.tr.byPublic) != 0 || len(r.tr.hosts) != 0 || len(r.tr.byPeer) != 0 {
		t.Fatalf("after flushing: %+v, %d %d %d left in the maps", st, len(r.tr.byInside), len(r.tr.byPublic), len(r.tr.hosts))
	}
	for k, ps := range r.tr.spaces {
		for w, bits := range ps {
			if bits != 0 {
				t.Fatalf("space %v: ports still taken in word %d: %x", k, w, bits)
			}
		}
	}
}
