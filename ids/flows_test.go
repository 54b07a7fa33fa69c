package ids

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// TestFlowClasses: the flow table keeps UDP and ICMP flows on lists of
// their own time-outs, yet expires each at its own time-out whatever the
// other list holds, and a full shard still ends its least recently active
// flow of either list.
func TestFlowClasses(t *testing.T) {
	e, err := New(Config{MaxFlows: 2 * flowShards, UDPTimeout: 60 * time.Second, ICMPTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := e.NewWorker()
	// Flows of one shard: a ping's identifier and DNS clients' addresses
	// tried until they hash there.
	var shard *flowShard
	c := traffic.NewCapture(sampleT0)
	frame := func(add func()) traffic.Frame {
		for {
			n := len(c.Frames)
			add()
			f := c.Frames[n]
			c.Frames = c.Frames[:n]
			var p packet.Parsed
			p.Decode(f.Data)
			k := fkeyOf(p.Flow())
			if sh := e.flows.shardOf(&k); shard == nil || sh == shard {
				shard = sh
				return f
			}
		}
	}
	var icmpID, udpHost uint16
	ping := func() (traffic.Frame, string) {
		f := frame(func() { icmpID++; c.ICMPEcho(client, resolver.Addr(), icmpID, 1, []byte("ping")) })
		return f, fmt.Sprint("ping ", icmpID)
	}
	lookup := func() (traffic.Frame, string) {
		f := frame(func() {
			udpHost++
			cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(udpHost >> 8), byte(udpHost)}), 5353)
			c.UDP(cli, resolver, traffic.DNSQuery(udpHost, "www.example.com"))
		})
		return f, fmt.Sprint("lookup ", udpHost)
	}
	at := func(f traffic.Frame, s int) {
		w.Process(f.Data, datapath.LinkTypeEthernet, sampleT0.Add(time.Duration(s)*time.Second))
	}
	live := func() map[string]bool { // the shard's flows
		m := map[string]bool{}
		for _, fs := range shard.m {
			k := fs.key
			if k.Proto == ipproto.ICMP {
				m[fmt.Sprint("ping ", k.Src.Port())] = true
			} else {
				a := k.Src.Addr().As4()
				m[fmt.Sprint("lookup ", uint16(a[2])<<8|uint16(a[3]))] = true
			}
		}
		return m
	}

	a, pingA := ping()
	b, _ := lookup()
	at(a, 0)
	at(b, 1)
	at(a, 2) // the ping is now the more recent
	c2, lookupC := lookup()
	at(c2, 3)
	if m := live(); len(m) != 2 || !m[pingA] || !m[lookupC] {
		t.Fatalf("after evicting from a full shard: flows %v, want %s and %s", m, pingA, lookupC)
	}
	d, pingD := ping()
	at(d, 4)
	if m := live(); len(m) != 2 || !m[pingD] || !m[lookupC] {
		t.Fatalf("after evicting again: flows %v, want %s and %s", m, pingD, lookupC)
	}
	// At 14s the second ping (4s) is due, the lookup (3s) is not: it is
	// the least recently active, yet must not hide the ping.
	e.Sweep(sampleT0.Add(14 * time.Second))
	if m := live(); len(m) != 1 || !m[lookupC] {
		t.Fatalf("after the ICMP time-out: flows %v, want %s", m, lookupC)
	}
	e.Sweep(sampleT0.Add(63 * time.Second))
	if m := live(); len(m) != 0 {
		t.Fatalf("after the UDP time-out: flows %v", m)
	}
	st := e.Stats().Flows
	if st.Flows != 4 || st.Evicted != 2 || st.TimedOut != 2 || st.Active != 0 {
		t.Errorf("counters %+v", st)
	}
}
