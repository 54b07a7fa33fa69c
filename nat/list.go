package nat

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/rampart-fw/rampart/firewall/conntrack"
	"github.com/rampart-fw/rampart/ipproto"
)

// List writes the translated connections of tbl, one a line, as
// `conntrack -L` prints them (protocol, its number, seconds left, the TCP
// state, the original tuple with its counters, [UNREPLIED] when nothing
// came back, the reply tuple as replies arrive, translated, with its
// counters, [ASSURED], mark, use), ordered by original tuple, and returns
// how many it wrote.
func List(w io.Writer, tbl *conntrack.Table, now time.Time) (int, error) {
	var es []conntrack.Entry
	tbl.Range(func(e conntrack.Entry) bool {
		if e.NAT {
			es = append(es, e)
		}
		return true
	})
	slices.SortFunc(es, func(a, b conntrack.Entry) int {
		if c := cmp.Compare(a.Orig.Flow.Proto, b.Orig.Flow.Proto); c != 0 {
			return c
		}
		if c := a.Orig.Flow.Src.Compare(b.Orig.Flow.Src); c != 0 {
			return c
		}
		return a.Orig.Flow.Dst.Compare(b.Orig.Flow.Dst)
	})
	var b []byte
	for i := range es {
		b = AppendEntry(b[:0], &es[i], now)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return i, err
		}
	}
	return len(es), nil
}

// AppendEntry appends e in the form of a line of `conntrack -L`.
func AppendEntry(b []byte, e *conntrack.Entry, now time.Time) []byte {
	proto := e.Orig.Flow.Proto
	b = fmt.Appendf(b, "%-8s %d %d ", proto, uint8(proto), max(0, int64(e.Expires.Sub(now)/time.Second)))
	switch proto {
	case ipproto.TCP:
		b = append(b, e.TCP.String()...)
		b = append(b, ' ')
	case ipproto.SCTP:
		b = append(b, e.SCTP.String()...)
		b = append(b, ' ')
	case ipproto.DCCP:
		b = append(b, e.DCCP.String()...)
		b = append(b, ' ')
	}
	b = appendTuple(b, &e.Orig, e.Packets[conntrack.DirOriginal], e.Bytes[conntrack.DirOriginal])
	if !e.Replied {
		b = append(b, "[UNREPLIED] "...)
	}
	b = appendTuple(b, &e.Reply, e.Packets[conntrack.DirReply], e.Bytes[conntrack.DirReply])
	if e.Assured {
		b = append(b, "[ASSURED] "...)
	}
	b = append(b, "mark="...)
	b = strconv.AppendUint(b, uint64(e.Mark), 10)
	return append(b, " use=1"...)
}

func appendTuple(b []byte, t *conntrack.Tuple, packets, bytes uint64) []byte {
	f := &t.Flow
	b = append(b, "src="...)
	b = f.Src.Addr().AppendTo(b)
	b = append(b, " dst="...)
	b = f.Dst.Addr().AppendTo(b)
	switch {
	case f.IsICMP():
		b = fmt.Appendf(b, " type=%d code=%d id=%d", t.ICMPType, t.ICMPCode, f.Src.Port())
	case f.Proto.HasPorts():
		b = fmt.Appendf(b, " sport=%d dport=%d", f.Src.Port(), f.Dst.Port())
	}
	return fmt.Appendf(b, " packets=%d bytes=%d ", packets, bytes)
}

// ListMappings writes the live mappings, one a line: protocol, inside
// endpoint, public endpoint, the connections holding it.
func ListMappings(w io.Writer, t *Translator) (int, error) {
	ms := t.Mappings()
	for i, m := range ms {
		if _, err := fmt.Fprintf(w, "%-8s %s -> %s connections=%d\n", m.Proto, m.Inside, m.Public, m.Connections); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}
