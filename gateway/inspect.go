package gateway

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"sort"
	"time"

	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/firewall/policy"
	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/packet"
)

// InspectConfig configures an offline run of the pipeline over a capture.
type InspectConfig struct {
	Engine Config
	// Inside lists the inside networks: a frame whose source address is in
	// one came from the LAN side, every other frame from the WAN side. A
	// capture does not say which port a frame arrived on.
	Inside []netip.Prefix
	// Out receives every frame the gateway would have forwarded; nil
	// discards them.
	Out datapath.Sink
	// MaxDeniedFlows bounds the distinct denied flows remembered [10000].
	MaxDeniedFlows int
	// Progress, when set, is called every 4096 frames and at the end.
	Progress func(frames, bytes uint64)
}

// DeniedFlow is a flow whose packets the policy dropped or rejected.
type DeniedFlow struct {
	Flow    flow.Key
	Dir     policy.Direction
	Verdict Verdict
	Reason  Reason
	Rule    int
	Packets uint64
}

// InspectResult summarises an offline run.
type InspectResult struct {
	Frames, Bytes uint64
	Forwarded     uint64
	Counts        map[string]uint64
	Rules         []RuleHit
	Denied        []DeniedFlow // most packets first
	// DeniedOverflow counts denied packets of flows beyond MaxDeniedFlows.
	DeniedOverflow uint64
	First, Last    time.Time
}

// Inspect runs the gateway's pipeline over every frame of src, on the
// capture's own clock (connection timeouts follow the timestamps).
func Inspect(ctx context.Context, src datapath.Source, pol *policy.Policy, cfg InspectConfig) (*InspectResult, error) {
	// The engine runs on the capture's clock: each frame sets it to its
	// timestamp before the engine sees the frame. Nothing reads it before
	// the first frame.
	clk := clock.NewFake(time.Unix(0, 0))
	cfg.Engine.Clock = clk
	if cfg.MaxDeniedFlows <= 0 {
		cfg.MaxDeniedFlows = 10000
	}
	if len(cfg.Inside) == 0 {
		for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"} {
			cfg.Inside = append(cfg.Inside, netip.MustParsePrefix(s))
		}
	}
	res := &InspectResult{}
	e, err := New(pol, cfg.Engine)
	if err != nil {
		return nil, err
	}
	denied := map[flow.Key]*DeniedFlow{}
	w := e.NewWorker()
	w.OnDecision = func(p *packet.Parsed, d Decision) {
		if d.Verdict == Forward || d.Verdict == Hold || p.IPVersion == 0 || d.Reason == ReasonMalformed {
			return
		}
		ft := p.Flow()
		if f, ok := denied[ft]; ok {
			f.Packets++
		} else if len(denied) < cfg.MaxDeniedFlows {
			denied[ft] = &DeniedFlow{Flow: ft, Dir: d.Dir, Verdict: d.Verdict, Reason: d.Reason, Rule: d.Rule, Packets: 1}
		} else {
			res.DeniedOverflow++
		}
	}
	out := &inspectSender{sink: cfg.Out, forwarded: &res.Forwarded}
	var lastSweep time.Time
	for {
		if res.Frames%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		frame, ci, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		now := ci.Timestamp
		clk.Set(now)
		if res.First.IsZero() {
			res.First = now
		}
		res.Last = now
		res.Frames++
		res.Bytes += uint64(len(frame))
		p := &w.p
		decode(p, frame, &ci)
		side := datapath.WAN
		if src := p.Src.Addr(); p.IPVersion == 0 || inAny(src, cfg.Inside) {
			side = datapath.LAN
		}
		out.in = side
		w.handle(frame, &ci, side, out)
		if out.err != nil {
			return nil, out.err
		}
		if now.Sub(lastSweep) > time.Second {
			e.Sweep()
			lastSweep = now
		}
		if cfg.Progress != nil && res.Frames%4096 == 0 {
			cfg.Progress(res.Frames, res.Bytes)
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(res.Frames, res.Bytes)
	}
	res.Counts = e.Counts()
	res.Rules = e.RuleHits()
	for _, f := range denied {
		res.Denied = append(res.Denied, *f)
	}
	sort.Slice(res.Denied, func(i, j int) bool {
		if res.Denied[i].Packets != res.Denied[j].Packets {
			return res.Denied[i].Packets > res.Denied[j].Packets
		}
		return res.Denied[i].Flow.String() < res.Denied[j].Flow.String()
	})
	return res, nil
}

// inspectSender writes what the gateway forwards to the run's sink and
// counts it; answers to rejected packets (sent back the way they came) are
// not forwarded frames and are left out.
type inspectSender struct {
	sink      datapath.Sink
	in        datapath.Side // the side of the frame being handled
	forwarded *uint64
	err       error // the sink's first error
}

func (s *inspectSender) Send(to datapath.Side, frame []byte) error {
	if to == s.in {
		return nil
	}
	*s.forwarded++
	if s.sink == nil || s.err != nil {
		return s.err
	}
	s.err = s.sink.Write(frame)
	return s.err
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
