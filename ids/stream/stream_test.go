package stream

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-fw/rampart/packet"
)

// TestAckBased: in Detect mode data is handed on when the receiver
// acknowledges it, both directions, then the FINs and the end.
func TestAckBased(t *testing.T) {
	c := newConn(t, Config{})
	c.handshake()
	c.put(ToServer, 1, "GET / HT")
	c.put(ToServer, 9, "TP/1.0\r\n\r\n")
	fr := c.rec.get(c.flow())
	if len(fr.data[ToServer]) != 0 {
		t.Fatalf("handed on %q before any acknowledgement", fr.data[ToServer])
	}
	c.ackTo(ToServer, 9)
	if got := string(fr.data[ToServer]); got != "GET / HT" {
		t.Fatalf("after the first acknowledgement: %q", got)
	}
	c.ackTo(ToServer, 19)
	c.put(ToClient, 1, "HTTP/1.0 200 OK\r\n")
	c.ackTo(ToClient, 18)
	if got := string(fr.data[ToServer]); got != "GET / HTTP/1.0\r\n\r\n" {
		t.Fatalf("request %q", got)
	}
	if got := string(fr.data[ToClient]); got != "HTTP/1.0 200 OK\r\n" {
		t.Fatalf("response %q", got)
	}
	// The server closes, the client closes, both acknowledge.
	c.send(c.seg(ToClient, packet.TCPFIN|packet.TCPACK, 18, 19, ""))
	if fr.fin[ToClient] {
		t.Fatal("FIN handed on before its acknowledgement")
	}
	c.send(c.seg(ToServer, packet.TCPFIN|packet.TCPACK, 19, 19, ""))
	if !fr.fin[ToClient] || fr.ended {
		t.Fatalf("after the client's FIN/ACK: fin %v ended %v", fr.fin, fr.ended)
	}
	c.ackTo(ToServer, 20)
	if !fr.fin[ToServer] || !fr.ended || fr.why != EndClosed {
		t.Fatalf("after the last ACK: fin %v ended %v (%s)", fr.fin, fr.ended, fr.why)
	}
	if st := c.flow().State(); st != StateClosed {
		t.Fatalf("state %s", st)
	}
	f := c.flow()
	if n, b := f.Packets(ToServer); n != 6 || b != 6*40+18 {
		t.Errorf("to the server: %d packets, %d bytes", n, b)
	}
	if n, b := f.Packets(ToClient); n != 6 || b != 6*40+17 {
		t.Errorf("to the client: %d packets, %d bytes", n, b)
	}
	if !f.Start().Equal(t0) || f.ID() >= 1<<51 {
		t.Errorf("start %v, id %d", f.Start(), f.ID())
	}
	if len(c.events) != 0 {
		t.Errorf("events %v", c.kinds())
	}
	s := c.tab.Stats()
	if s.Delivered != 35 || s.Memory == 0 && s.Active != 1 {
		t.Errorf("stats %+v", s)
	}
	// A late ACK is absorbed by the closed flow; data is not.
	if r := c.ackTo(ToClient, 19); r.Flow == nil || r.Events != 0 {
		t.Errorf("late ACK: %+v", r)
	}
	if r := c.put(ToServer, 20, "more"); !r.Events.Has(KindDataAfterFIN) {
		t.Errorf("data after the close: %+v", r)
	}
}

// TestPreventImmediate: in Prevent mode data is handed on before the
// packet is forwarded, in order, without waiting for acknowledgements, and
// out-of-order data when the hole is filled.
func TestPreventImmediate(t *testing.T) {
	c := newConn(t, Config{Mode: Prevent})
	var atPacket []string
	c.rec.onPkt = func(f *Flow, p *packet.Parsed, r *Result) {
		atPacket = append(atPacket, string(c.rec.get(f).data[ToServer]))
	}
	c.handshake()
	c.put(ToServer, 1, "abc")
	c.put(ToServer, 7, "ghi")
	c.put(ToServer, 4, "def")
	want := []string{"", "", "", "abc", "abc", "abcdefghi"}
	if strings.Join(atPacket, ",") != strings.Join(want, ",") {
		t.Errorf("handed on at each packet: %q, want %q", atPacket, want)
	}
	s := &c.flow().sides[ToServer]
	if s.keep != 0 || held(s) != "" || len(s.have) != 1 || s.have[0] != (ival{0, 9}) {
		t.Errorf("kept %+v before the acknowledgement", s.have)
	}
	c.ackTo(ToServer, 7)
	if s.keep != 6 || s.have[0] != (ival{6, 9}) {
		t.Errorf("kept %+v from %d after acknowledging 6 bytes", s.have, s.keep)
	}
	c.ackTo(ToServer, 10)
	if len(s.have) != 0 || len(s.buf) > 4096 {
		t.Errorf("still holding %+v in %d bytes after everything was acknowledged", s.have, len(s.buf))
	}
}

// TestOneSided: when the other direction is not in the capture, nothing
// acknowledges, and data is handed on as soon as it is in order.
func TestOneSided(t *testing.T) {
	c := newConn(t, Config{})
	c.send(c.seg(ToServer, packet.TCPSYN, 0, 0, ""))
	c.put(ToServer, 1, "one ")
	c.put(ToServer, 9, "three")
	c.put(ToServer, 5, "two ")
	c.send(c.seg(ToServer, packet.TCPFIN|packet.TCPACK, 14, 1, ""))
	fr := c.rec.only()
	if got := string(fr.data[ToServer]); got != "one two three" || !fr.fin[ToServer] {
		t.Errorf("handed on %q, fin %v", got, fr.fin)
	}
}

// TestMidstream picks flows up without their handshake, in each of the
// ways a capture can start, and refuses when told to.
func TestMidstream(t *testing.T) {
	t.Run("client data", func(t *testing.T) {
		c := newConn(t, Config{})
		r := c.put(ToServer, 1, "hello")
		if r.Flow == nil || !r.Events.Has(KindMidstream) || !r.Flow.Midstream() || r.Dir != ToServer {
			t.Fatalf("%+v", r)
		}
		if k := r.Flow.Key(); k.Src != c.cli || k.Dst != c.srv {
			t.Errorf("client %s, want %s", k.Src, c.cli)
		}
		c.put(ToClient, 1, "hi")
		c.ackTo(ToServer, 6)
		c.ackTo(ToClient, 3)
		fr := c.rec.only()
		if string(fr.data[ToServer]) != "hello" || string(fr.data[ToClient]) != "hi" {
			t.Errorf("handed on %q and %q", fr.data[ToServer], fr.data[ToClient])
		}
	})
	t.Run("server data first", func(t *testing.T) {
		c := newConn(t, Config{})
		r := c.put(ToClient, 1, "220 ready\r\n")
		if r.Flow == nil || r.Dir != ToClient || r.Flow.Key().Src != c.cli {
			t.Fatalf("the server (port 80) was taken for the client: %+v key %s", r, r.Flow.Key())
		}
		c.ackTo(ToClient, 12)
		if got := string(c.rec.only().data[ToClient]); got != "220 ready\r\n" {
			t.Errorf("handed on %q", got)
		}
	})
	t.Run("from the SYN/ACK", func(t *testing.T) {
		c := newConn(t, Config{})
		r, _ := c.send(c.seg(ToClient, packet.TCPSYN|packet.TCPACK, 0, 1, ""))
		if r.Flow == nil || r.Flow.State() != StateSynRecv || r.Flow.Key().Src != c.cli {
			t.Fatalf("%+v", r)
		}
		c.send(c.seg(ToServer, packet.TCPACK, 1, 1, ""))
		c.put(ToServer, 1, "abc")
		c.ackTo(ToServer, 4)
		if got := string(c.rec.only().data[ToServer]); got != "abc" || c.flow().State() != StateEstablished {
			t.Errorf("handed on %q in %s", got, c.flow().State())
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, cfg := range []Config{{Midstream: MidstreamOff}, {Mode: Prevent}} {
			c := newConn(t, cfg)
			r := c.put(ToServer, 1, "hello")
			want := Forward
			if cfg.Mode == Prevent {
				want = Drop
			}
			if r.Flow != nil || r.Verdict != want || !r.Events.Has(KindMidstreamRefused) {
				t.Errorf("%s: %+v", cfg.Mode, r)
			}
		}
		c := newConn(t, Config{Mode: Prevent, Midstream: MidstreamOn})
		if r := c.put(ToServer, 1, "hello"); r.Flow == nil || r.Verdict != Forward {
			t.Errorf("prevent, midstream on: %+v", r)
		}
	})
}

// TestAckedGap: the receiver acknowledges bytes the capture lost: they
// become a gap, and what follows is handed on.
func TestAckedGap(t *testing.T) {
	c := newConn(t, Config{})
	c.handshake()
	c.put(ToServer, 1, "aaaa")
	// Bytes 5 to 8 never seen.
	c.put(ToServer, 9, "cccc")
	c.ackTo(ToServer, 13)
	fr := c.rec.only()
	if got := string(fr.data[ToServer]); got != "aaaa????cccc" || fr.gaps[ToServer] != 4 {
		t.Errorf("handed on %q", got)
	}
	if c.count(KindGap) != 1 {
		t.Errorf("events %v", c.kinds())
	}
	// An acknowledgement of bytes never seen at all waits for them: it
	// does not skip the stream forward.
	c.ackTo(ToServer, 5000)
	if got := string(fr.data[ToServer]); got != "aaaa????cccc" {
		t.Errorf("after acknowledging unseen bytes: %q", got)
	}
	c.put(ToServer, 13, "dd")
	c.ackTo(ToServer, 5001)
	if got := string(fr.data[ToServer]); got != "aaaa????ccccdd" {
		t.Errorf("after they came: %q", got)
	}
}

// TestHoleLimits: data waiting behind a missing segment is held up to each
// limit, then the hole becomes a gap (Detect) or the segment over the
// limit is dropped (Prevent); the missing segment, arriving late, is
// reported.
func TestHoleLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		send func(c *conn)
	}{
		{"segments", Config{HoleSegments: 3}, func(c *conn) {
			for i := range 4 {
				c.put(ToServer, uint32(11+10*i), "0123456789")
			}
		}},
		{"bytes", Config{HoleBytes: 25}, func(c *conn) {
			for i := range 3 {
				c.put(ToServer, uint32(11+10*i), "0123456789")
			}
		}},
		{"time", Config{HoleTimeout: time.Second}, func(c *conn) {
			c.put(ToServer, 11, "0123456789")
			c.now = c.now.Add(2 * time.Second)
			c.ackTo(ToServer, 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConn(t, tc.cfg)
			c.handshake()
			tc.send(c)
			fr := c.rec.only()
			if c.count(KindHoleLimit) != 1 || fr.gaps[ToServer] != 10 || !bytes.HasPrefix(fr.data[ToServer], []byte("??????????0123456789")) {
				t.Fatalf("handed on %q, events %v", fr.data[ToServer], c.kinds())
			}
			if r := c.put(ToServer, 1, "late late!"); !r.Events.Has(KindLateData) {
				t.Errorf("the missing segment, late: %+v", r)
			}
		})
	}
	t.Run("prevent", func(t *testing.T) {
		c := newConn(t, Config{Mode: Prevent, HoleSegments: 2, HoleBytes: 1000})
		c.handshake()
		for i := range 3 {
			r := c.put(ToServer, uint32(11+10*i), "0123456789")
			if want := i == 2; (r.Verdict == Drop) != want || r.Events.Has(KindHoleLimit) != want {
				t.Errorf("segment %d: %+v", i, r)
			}
		}
		c.put(ToServer, 1, "abcdefghij")
		if got := string(c.rec.only().data[ToServer]); got != "abcdefghij01234567890123456789" {
			t.Errorf("handed on %q", got)
		}
	})
}

// TestMemcap: when the memory cap is reached, the flow that holds the most
// pays: in Detect it hands on what it holds at once, in Prevent it is
// dropped; memory never passes the cap.
func TestMemcap(t *testing.T) {
	for _, mode := range []Mode{Detect, Prevent} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := Config{Mode: mode, Shards: 1, MaxBuffer: 64 << 10, HoleBytes: 64 << 10, MemCap: 128 << 10}
			heavy := newConn(t, cfg)
			heavy.handshake()
			// 60 KiB held behind a missing first byte: a 64 KiB buffer.
			for i := range 60 {
				heavy.put(ToServer, uint32(2+1024*i), strings.Repeat("h", 1024))
			}
			light := &conn{t: t, tab: heavy.tab, rec: heavy.rec, cli: netip.MustParseAddrPort("192.0.2.11:40001"), srv: srv4, cisn: 7, sisn: 9, now: t0, win: 65535}
			light.handshake()
			for i := range 3 {
				light.put(ToServer, uint32(2+20000*i), strings.Repeat("l", 20000))
			}
			if m := heavy.tab.Stats().Memory; m > cfg.MemCap {
				t.Errorf("memory %d over the cap %d", m, cfg.MemCap)
			}
			hf := heavy.flow()
			if heavy.count(KindMemcap) == 0 {
				t.Fatalf("no memcap event: %v", heavy.kinds())
			}
			for _, e := range heavy.events {
				if e.Kind == KindMemcap && e.FlowID != hf.ID() {
					t.Errorf("the light flow paid: %+v", e)
				}
			}
			if mode == Detect {
				fr := heavy.rec.flows[hf.ID()]
				if len(fr.data[ToServer]) != 1+60*1024 || fr.data[ToServer][0] != '?' {
					t.Errorf("the heavy flow handed on %d bytes", len(fr.data[ToServer]))
				}
			} else {
				if !hf.Dropped() {
					t.Error("the heavy flow was not dropped")
				}
				if r := heavy.put(ToServer, 1, "x"); r.Verdict != Drop {
					t.Errorf("a packet of the dropped flow: %+v", r)
				}
			}
		})
	}
}

// TestDepth: past Config.Depth nothing is stored or handed on, the offsets
// and the FIN go on.
func TestDepth(t *testing.T) {
	for _, mode := range []Mode{Detect, Prevent} {
		c := newConn(t, Config{Mode: mode, Depth: 10})
		c.handshake()
		c.put(ToServer, 1, "0123456")
		r := c.put(ToServer, 8, "789abcdef")
		c.put(ToServer, 17, "ghij")
		c.send(c.seg(ToServer, packet.TCPFIN|packet.TCPACK, 21, 1, ""))
		c.ackTo(ToServer, 22)
		fr := c.rec.only()
		if !r.Events.Has(KindDepth) || c.count(KindDepth) != 1 {
			t.Errorf("%s: events %v", mode, c.kinds())
		}
		if got := string(fr.data[ToServer]); got != "0123456789" || !fr.fin[ToServer] {
			t.Errorf("%s: handed on %q, fin %v", mode, got, fr.fin)
		}
		if s := &c.flow().sides[ToServer]; s.buf != nil {
			t.Errorf("%s: holds a buffer past the depth", mode)
		}
	}
}

// TestNoDepth: NoDepth reassembles everything.
func TestNoDepth(t *testing.T) {
	c := newConn(t, Config{Depth: NoDepth, MaxBuffer: 1 << 16})
	c.handshake()
	const n = 200
	for i := range n {
		c.put(ToServer, uint32(1+1000*i), strings.Repeat(string(rune('a'+i%26)), 1000))
		c.ackTo(ToServer, uint32(1+1000*(i+1)))
	}
	if got := len(c.rec.only().data[ToServer]); got != n*1000 {
		t.Errorf("handed on %d bytes", got)
	}
}
