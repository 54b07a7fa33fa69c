package guard

import (
	"bytes"
	"errors"
	"sync/atomic"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
)

// FeatureAction is what a feature rule does with the packets it matches.
type FeatureAction uint8

const (
	// FeatureDrop drops every packet the rule matches.
	FeatureDrop FeatureAction = iota
	// FeatureLimit lets matching packets through at the rule's Limit, all
	// sources together, and drops the rest: the shape of a reflection or
	// a flood is often one port or one payload, whoever sends it.
	FeatureLimit
)

// Feature is a feature rule: it matches packets by what they carry, not by
// who sends them, and drops or rate-limits them. Every field left zero
// matches anything; a rule that sets nothing is refused.
type Feature struct {
	// Name labels the rule's counter; empty means its position.
	Name    string
	Proto   ipproto.Proto // 0: any protocol
	SrcPort uint16        // 0: any; needs a protocol with ports
	DstPort uint16        // 0: any
	// TCPFlags, when HasTCPFlags, must equal the segment's flags exactly
	// (all eight): "SYN|FIN|URG|PSH" and such combinations no stack sends
	// beyond those the guard drops already.
	TCPFlags    packet.TCPFlags
	HasTCPFlags bool
	// Payload is a prefix the transport payload must start with.
	Payload []byte
	Action  FeatureAction
	Limit   Limit // for FeatureLimit
}

// feature is a compiled rule with its counters.
type feature struct {
	Feature
	bucket *bucket       // FeatureLimit only
	hits   atomic.Uint64 // packets matched; atomic, no lock
	drops  atomic.Uint64 // packets dropped; atomic, no lock
}

// compileFeature checks f and fills c with it.
func compileFeature(c *feature, f *Feature) error {
	c.Feature = *f
	c.Payload = bytes.Clone(f.Payload)
	if f.Proto == 0 && f.SrcPort == 0 && f.DstPort == 0 && !f.HasTCPFlags && len(f.Payload) == 0 {
		return errors.New("a feature rule must match on something: proto, src_port, dst_port, tcp_flags or payload")
	}
	if (f.SrcPort != 0 || f.DstPort != 0) && !f.Proto.HasPorts() {
		return errors.New("a port needs a protocol with ports (tcp, udp, udplite, sctp, dccp)")
	}
	if f.HasTCPFlags && f.Proto != ipproto.TCP {
		return errors.New("tcp_flags needs proto tcp")
	}
	switch f.Action {
	case FeatureDrop:
	case FeatureLimit:
		if err := f.Limit.check(); err != nil {
			return err
		}
		c.bucket = newBucket(f.Limit)
	default:
		return errors.New("unknown action")
	}
	return nil
}

func (f *feature) matches(p *packet.Parsed) bool {
	if f.Proto != 0 && p.Proto != f.Proto {
		return false
	}
	if f.SrcPort != 0 && p.Src.Port() != f.SrcPort || f.DstPort != 0 && p.Dst.Port() != f.DstPort {
		return false
	}
	if f.HasTCPFlags && p.TCPFlags != f.TCPFlags {
		return false
	}
	if len(f.Payload) > 0 {
		end := p.PayloadOff + p.PayloadLen
		if end > len(p.Buf) || !bytes.HasPrefix(p.Buf[p.PayloadOff:end], f.Payload) {
			return false
		}
	}
	return true
}

// featureCheck runs the feature rules over p, in order; the first that
// matches decides.
func (g *Guard) featureCheck(p *packet.Parsed) Reason {
	for i := range g.features {
		f := &g.features[i]
		if !f.matches(p) {
			continue
		}
		f.hits.Add(1)
		if f.Action == FeatureLimit && f.bucket.allow(g.clock.Now().UnixNano()) {
			return Pass
		}
		f.drops.Add(1)
		return ReasonFeature
	}
	return Pass
}

// FeatureStat is what one feature rule did.
type FeatureStat struct {
	Name        string
	Hits, Drops uint64
}

// FeatureStats returns the counters of the feature rules, in order.
func (g *Guard) FeatureStats() []FeatureStat {
	out := make([]FeatureStat, len(g.features))
	for i := range g.features {
		f := &g.features[i]
		out[i] = FeatureStat{Name: f.Name, Hits: f.hits.Load(), Drops: f.drops.Load()}
	}
	return out
}
