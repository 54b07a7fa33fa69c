package stream

import (
	"testing"

	"github.com/rampart-fw/rampart/packet"
)

// TestProcessWith checks that ProcessWith hands a packet's chunks, the
// packet and the end of its flow to the consumer it is given, and the
// Table's consumer sees none of them; Flush uses the Table's.
func TestProcessWith(t *testing.T) {
	c := newConn(t, Config{})
	c.handshake()
	other := newRecorder(t)
	with := func(s tcpSeg) {
		var p packet.Parsed
		p.DecodeIP(s.build())
		c.tab.ProcessWith(&p, c.now, other)
	}
	before := c.rec.packets
	with(c.seg(ToServer, packet.TCPACK|packet.TCPPSH, 1, 1, "hello"))
	with(c.seg(ToClient, packet.TCPACK, 1, 6, ""))
	if other.packets != 2 || c.rec.packets != before {
		t.Fatalf("packets: %d to the given consumer, %d more to the table's; want 2, 0", other.packets, c.rec.packets-before)
	}
	if got := string(other.only().data[ToServer]); got != "hello" {
		t.Errorf("given consumer's stream %q, want hello", got)
	}
	if len(c.rec.flows) != 0 {
		t.Errorf("the table's consumer got chunks")
	}
	c.tab.Flush(c.now)
	if !c.rec.only().ended || other.only().ended {
		t.Errorf("Flush ended the flow on the given consumer, not the table's")
	}
}
