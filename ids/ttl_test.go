package ids

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
	"github.com/rampart-fw/rampart/ids/stream"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// ttlTarget is the host behind two routers that the TTL evasion aims at.
var ttlTarget = netip.MustParseAddrPort("10.10.9.10:9000")

// ttlEvasion builds Ptacek and Newsham's TTL evasion against ttlTarget:
// junk with TTL 2, which the second router on the way discards, and
// "EVILCMD!" with TTL 64 at the same sequence numbers, junk first or real
// first; the receiver then acknowledges what it received. The later segment is
// one byte longer than the earlier ("EVILXXX" before the real one,
// "EVILXXX!!" after it), so that it is an overlap that the target's
// policy resolves, not a retransmission (which every policy leaves out).
func ttlEvasion(junkFirst bool) *traffic.Capture {
	c := traffic.NewCapture(sampleT0)
	h := c.TCP(netip.AddrPortFrom(attacker, 41100), ttlTarget)
	junk := func(data string) {
		h.Segment(0, 0, []byte(data))
		c.SetTTL(2)
	}
	real := func() { h.Segment(0, 0, []byte("EVILCMD!")) }
	if junkFirst {
		junk("EVILXXX")
		real()
	} else {
		real()
		junk("EVILXXX!!")
		// The host did get a ninth byte, from the sender: what it
		// acknowledges is what it received.
		h.Segment(0, 8, []byte("!"))
	}
	h.Ack(1)
	h.Close()
	return c
}

// TestTTLEvasion: with the target's hops configured, the junk segment
// never enters reassembly (an event says so) and the rule matches the
// bytes the host receives, whatever the target's overlap policy and
// whichever segment comes first. Without them (every host on the
// engine's link, the naive engine) the policy takes the junk where it
// keeps the segment the junk is: the evasion works.
func TestTTLEvasion(t *testing.T) {
	evasion := fmt.Sprintf("stream ttl_evasion tcp %s:41100 -> %s policy=", attacker, ttlTarget)
	alert := fmt.Sprintf("1000004 tcp %s:41100 -> %s  Command hidden by overlapping segments blocked=false", attacker, ttlTarget)
	for _, pol := range []stream.Policy{stream.First, stream.Last, stream.BSD, stream.Linux, stream.Windows, stream.Solaris} {
		// Where the later segment, starting with the earlier one and
		// ending after it, wins.
		laterWins := pol == stream.Last || pol == stream.Linux || pol == stream.Solaris
		for _, junkFirst := range []bool{true, false} {
			for _, hops := range []uint8{0, 2} {
				name := fmt.Sprintf("%s/junk-first=%v/hops=%d", pol, junkFirst, hops)
				t.Run(name, func(t *testing.T) {
					rec := &recorder{}
					cfg := sampleConfig(t, rec)
					cfg.Stream.Policies.Set(netip.PrefixFrom(ttlTarget.Addr(), 32), pol)
					cfg.Hops = NewHostHops(0)
					cfg.Hops.Set(netip.MustParsePrefix("10.10.9.0/24"), hops)
					e, err := New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					w := e.NewWorker()
					c := ttlEvasion(junkFirst)
					for _, f := range c.Frames {
						if v := w.Process(f.Data, datapath.LinkTypeEthernet, f.Time); v != Pass {
							t.Fatalf("detection gave %s", v)
						}
					}
					e.Flush(c.Frames[len(c.Frames)-1].Time)
					var wantAlerts, wantEvents []string
					st := e.Stats()
					if hops == 2 {
						wantAlerts, wantEvents = []string{alert}, []string{evasion}
						if st.TTLUnreachable != 1 || st.Events[LayerStream] != 1 {
							t.Errorf("%d unreachable, %v events", st.TTLUnreachable, st.Events)
						}
					} else {
						// The naive outcome: the overlap is resolved by
						// the policy, and the host's bytes are missed
						// where the junk is the segment it keeps.
						wantEvents = []string{fmt.Sprintf("stream overlap_different_data tcp %s:41100 -> %s policy=%s", attacker, ttlTarget, pol)}
						if laterWins != junkFirst {
							wantAlerts = nil
						} else {
							wantAlerts = []string{alert}
						}
						if st.TTLUnreachable != 0 {
							t.Errorf("%d unreachable", st.TTLUnreachable)
						}
					}
					sameLines(t, "alerts", rec.alerts, wantAlerts)
					sameLines(t, "events", rec.events, wantEvents)
				})
			}
		}
	}
}

// TestTTLEvasionPrevent: in line, the junk segment is dropped (and the
// real one goes out and is inspected); with min_ttl the junk is raised
// instead, reaches the host, and the real segment, which contradicts
// bytes already forwarded, is rewritten to them: either way the host gets exactly
// what was inspected.
func TestTTLEvasionPrevent(t *testing.T) {
	for _, minTTL := range []uint8{0, 16} {
		t.Run(fmt.Sprintf("min_ttl=%d", minTTL), func(t *testing.T) {
			rec := &recorder{}
			cfg := sampleConfig(t, rec)
			cfg.Mode = Prevent
			cfg.Hops = NewHostHops(0)
			cfg.Hops.Set(netip.MustParsePrefix("10.10.9.0/24"), 2)
			cfg.MinTTL = minTTL
			e, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			w := e.NewWorker()
			c := ttlEvasion(true)
			var verdicts []string
			var delivered []byte
			var p packet.Parsed
			for _, f := range c.Frames {
				frame := slices.Clone(f.Data)
				p.Decode(frame)
				v := w.Inspect(&p, f.Time)
				if p.PayloadLen > 0 {
					data := payloadOf(&p)
					verdicts = append(verdicts, fmt.Sprintf("%s ttl=%d %s", data, p.TTL, v))
					var q packet.Parsed
					q.Decode(frame)
					if q.TTL != p.TTL || q.CheckChecksums(true) != packet.ChecksumOK {
						t.Errorf("%s: the frame holds TTL %d, checksums %s", data, q.TTL, q.CheckChecksums(true))
					}
					if v == Pass {
						delivered = append(delivered, payloadOf(&q)...)
					}
				}
			}
			st := e.Stats()
			if minTTL == 0 {
				sameLines(t, "segments", verdicts, []string{"EVILXXX ttl=2 drop", "EVILCMD! ttl=64 pass"})
				sameLines(t, "alerts", rec.alerts, []string{fmt.Sprintf("1000004 tcp %s:41100 -> %s  Command hidden by overlapping segments blocked=false", attacker, ttlTarget)})
				if st.TTLUnreachable != 1 || st.TTLRaised != 0 || string(delivered) != "EVILCMD!" {
					t.Errorf("%d unreachable, %d raised, delivered %q", st.TTLUnreachable, st.TTLRaised, delivered)
				}
				return
			}
			// The real segment goes out normalised to the bytes already
			// forwarded, the new one after them: the host's stream is
			// EVILXXX!, which is what was inspected (no alert).
			sameLines(t, "segments", verdicts, []string{"EVILXXX ttl=16 pass", "EVILXXX! ttl=64 pass"})
			if len(rec.alerts) != 0 || st.TTLUnreachable != 0 || st.TTLRaised != 1 || string(delivered) != "EVILXXXEVILXXX!" {
				t.Errorf("alerts %q, %d unreachable, %d raised, delivered %q", rec.alerts, st.TTLUnreachable, st.TTLRaised, delivered)
			}
		})
	}
}

// TestTTLFragment: a fragment that expires before its destination takes
// no part in reassembly; the datagram is reassembled from the others, as
// the host does, and the event names the fragment's addresses.
func TestTTLFragment(t *testing.T) {
	for _, hops := range []uint8{0, 3} {
		rec := &recorder{}
		cfg := sampleConfig(t, rec)
		cfg.Hops = NewHostHops(hops)
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// bsd keeps the fragment held first at an equal offset: the
		// junk, unless it is left out.
		c := traffic.NewCapture(sampleT0)
		src, dst := netip.AddrPortFrom(attacker, 42000), netip.AddrPortFrom(bsdHost.Addr(), 5555)
		payload := []byte("AAAAAAAAFRAGATTACK......")
		udp := append(traffic.UDPHeader(src, dst, payload), payload[:8]...)
		c.Fragment(attacker, dst.Addr(), ipproto.UDP, 0x7000, 0, true, udp)
		c.Fragment(attacker, dst.Addr(), ipproto.UDP, 0x7000, 16, true, []byte("XXXXXXXX"))
		c.SetTTL(3)
		c.Fragment(attacker, dst.Addr(), ipproto.UDP, 0x7000, 16, false, payload[8:])
		w := e.NewWorker()
		for _, f := range c.Frames {
			w.Process(f.Data, datapath.LinkTypeEthernet, f.Time)
		}
		e.Flush(c.Frames[len(c.Frames)-1].Time)
		if hops == 0 {
			sameLines(t, "naive alerts", rec.alerts, nil)
			sameLines(t, "naive events", rec.events, []string{fmt.Sprintf("decode overlap udp %s:0 -> %s:0 policy=bsd", attacker, dst.Addr())})
			continue
		}
		sameLines(t, "alerts", rec.alerts, []string{fmt.Sprintf("1000007 udp %s -> %s  Attack hidden by overlapping fragments blocked=false", src, dst)})
		sameLines(t, "events", rec.events, []string{fmt.Sprintf("decode ttl_evasion udp %s:0 -> %s:0 policy=", attacker, dst.Addr())})
	}
}

// TestTTLQuiet: other packets that cannot reach (a traceroute's UDP and
// ICMP probes) are left out and counted without an event; a TTL of 0
// reaches a host on the engine's own link, which does not check it.
func TestTTLQuiet(t *testing.T) {
	rec := &recorder{}
	cfg := sampleConfig(t, rec)
	cfg.Hops = NewHostHops(0)
	cfg.Hops.Set(netip.MustParsePrefix("203.0.113.0/24"), 4)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := traffic.NewCapture(sampleT0)
	c.UDP(netip.AddrPortFrom(client, 33333), resolver, traffic.DNSQuery(0x4242, "update.malware.example.net"))
	c.SetTTL(4)
	c.ICMPEcho(client, resolver.Addr(), 1, 1, []byte("probe"))
	c.SetTTL(1)
	c.UDP(netip.AddrPortFrom(attacker, 33334), netip.AddrPortFrom(client, 53), traffic.DNSQuery(0x4343, "update.malware.example.net"))
	c.SetTTL(0)
	w := e.NewWorker()
	for _, f := range c.Frames {
		w.Process(f.Data, datapath.LinkTypeEthernet, f.Time)
	}
	e.Flush(c.Frames[len(c.Frames)-1].Time)
	sameLines(t, "alerts", rec.alerts, []string{fmt.Sprintf("1000002 udp %s:33334 -> %s:53 dns DNS query for a malware domain blocked=false", attacker, client)})
	sameLines(t, "events", rec.events, nil)
	if st := e.Stats(); st.TTLUnreachable != 2 {
		t.Errorf("%d unreachable, want 2", st.TTLUnreachable)
	}
}

// payloadOf returns the transport payload of p.
func payloadOf(p *packet.Parsed) []byte { return p.Buf[p.PayloadOff : p.PayloadOff+p.PayloadLen] }
