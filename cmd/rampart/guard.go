package main

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/guard"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/packet"
	"github.com/rampart-fw/rampart/srcpos"
)

// guardConfig is the gateway.guard section: the defences before
// connection tracking.
type guardConfig struct {
	SYNProxy synproxyConfig `yaml:"synproxy"`
	// AntiSpoof turns source address validation on (the default).
	AntiSpoof config.Value[bool] `yaml:"antispoof"`
	// Inside are the inside prefixes source validation judges by.
	Inside []config.Prefix `yaml:"inside"`
	Limits guardLimits     `yaml:"limits"`
	// Features are the feature rules, in order.
	Features []featureConfig `yaml:"features"`
	// ReversePath is off (the default) or strict: in router mode, a
	// packet whose source the route table would reach by the other side,
	// or not at all, is dropped (RFC 3704 strict reverse-path
	// forwarding).
	ReversePath config.Value[string] `yaml:"reverse_path"`
}

// featureConfig is one feature rule: what it matches, and drop or limit.
type featureConfig struct {
	Name     config.Value[string] `yaml:"name"`
	Proto    config.Value[string] `yaml:"proto"`
	SrcPort  config.Value[int]    `yaml:"src_port"`
	DstPort  config.Value[int]    `yaml:"dst_port"`
	TCPFlags config.Value[string] `yaml:"tcp_flags"`
	Payload  config.Value[string] `yaml:"payload"`
	Action   config.Value[string] `yaml:"action"`
	Limit    limitConfig          `yaml:"limit"`
	At       config.Source        `yaml:"-"`
}

type synproxyConfig struct {
	Mode          config.Value[string] `yaml:"mode"`
	Destinations  []config.Prefix      `yaml:"destinations"`
	AutoThreshold config.Value[int]    `yaml:"auto_threshold"`
}

type guardLimits struct {
	NewConnectionsPerSource limitConfig `yaml:"new_connections_per_source"`
	ICMPPerSource           limitConfig `yaml:"icmp_per_source"`
	SYNPerDestination       limitConfig `yaml:"syn_per_destination"`
}

// limitConfig is a token bucket: {rate: 100/s, burst: 200}.
type limitConfig struct {
	Rate  config.Value[config.Rate] `yaml:"rate"`
	Burst config.Value[int]         `yaml:"burst"`
}

// maxBurst bounds a bucket's burst.
const maxBurst = 1 << 30

func prefixes(ps []config.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		out = append(out, p.Prefix)
	}
	return out
}

// check turns the section into the guard's configuration; keys left out
// take their defaults. Every problem goes into errs.
func (c *guardConfig) check(errs *srcpos.List) guard.Config {
	g := guard.Config{AntiSpoof: c.AntiSpoof.Or(true), Inside: prefixes(c.Inside)}
	sp := &g.SYNProxy
	if c.SYNProxy.Mode.IsSet() {
		m, err := guard.ParseProxyMode(c.SYNProxy.Mode.V)
		if err != nil {
			errs.Add(c.SYNProxy.Mode.Errorf("want off, always or auto, not %q", c.SYNProxy.Mode.V))
		}
		sp.Mode = m
	}
	sp.Destinations = prefixes(c.SYNProxy.Destinations)
	if sp.Mode != guard.ProxyOff && len(sp.Destinations) == 0 {
		errs.Add(c.SYNProxy.Mode.Errorf("synproxy mode %s needs destinations: the servers it protects", sp.Mode))
	}
	if t := c.SYNProxy.AutoThreshold; t.IsSet() {
		if t.V < 1 || t.V > maxBurst {
			errs.Add(t.Errorf("want 1 to %d half-open connections, not %d", maxBurst, t.V))
		}
		sp.AutoThreshold = t.V
	}
	for i := range c.Features {
		if f, ok := c.Features[i].check(errs); ok {
			g.Features = append(g.Features, f)
		}
	}
	for _, l := range []struct {
		cfg *limitConfig
		dst *guard.Limit
	}{{&c.Limits.NewConnectionsPerSource, &g.Limits.NewConnectionsPerSource},
		{&c.Limits.ICMPPerSource, &g.Limits.ICMPPerSource},
		{&c.Limits.SYNPerDestination, &g.Limits.SYNPerDestination}} {
		*l.dst, _ = l.cfg.check(errs)
	}
	return g
}

// check returns the bucket, and whether one was set without error.
func (l *limitConfig) check(errs *srcpos.List) (guard.Limit, bool) {
	r, b := l.Rate, l.Burst
	switch {
	case !r.IsSet() && !b.IsSet():
		return guard.Limit{}, false
	case !r.IsSet():
		errs.Add(b.Errorf("a burst needs a valid rate beside it"))
		return guard.Limit{}, false
	}
	burst := b.Or(max(1, int(r.V.PerSecond())))
	if burst < 1 || burst > maxBurst {
		errs.Add(b.Errorf("want 1 to %d, not %d", maxBurst, burst))
		return guard.Limit{}, false
	}
	return guard.Limit{Rate: r.V.PerSecond(), Burst: burst}, true
}

// check turns one feature rule into the guard's; every problem goes into
// errs.
func (c *featureConfig) check(errs *srcpos.List) (guard.Feature, bool) {
	before := len(*errs)
	f := guard.Feature{Name: c.Name.V}
	if c.Proto.IsSet() {
		p, err := ipproto.Parse(c.Proto.V)
		if err != nil {
			errs.Add(c.Proto.Errorf("%v", err))
		}
		f.Proto = p
	}
	for _, p := range []struct {
		v   config.Value[int]
		dst *uint16
	}{{c.SrcPort, &f.SrcPort}, {c.DstPort, &f.DstPort}} {
		if !p.v.IsSet() {
			continue
		}
		if p.v.V < 1 || p.v.V > 65535 {
			errs.Add(p.v.Errorf("want a port from 1 to 65535, not %d", p.v.V))
			continue
		}
		if !f.Proto.HasPorts() {
			errs.Add(p.v.Errorf("a port needs a proto with ports (tcp, udp, udplite, sctp, dccp)"))
		}
		*p.dst = uint16(p.v.V)
	}
	if c.TCPFlags.IsSet() {
		fl, err := parseTCPFlags(c.TCPFlags.V)
		if err != nil {
			errs.Add(c.TCPFlags.Errorf("%v", err))
		} else if f.Proto != ipproto.TCP {
			errs.Add(c.TCPFlags.Errorf("tcp_flags needs proto tcp"))
		}
		f.TCPFlags, f.HasTCPFlags = fl, true
	}
	if c.Payload.IsSet() {
		b, err := parseContent(c.Payload.V)
		if err != nil {
			errs.Add(c.Payload.Errorf("%v", err))
		}
		f.Payload = b
	}
	switch c.Action.Or("drop") {
	case "drop":
		if c.Limit.Rate.IsSet() || c.Limit.Burst.IsSet() {
			errs.Add(c.Action.Errorf("a limit goes with action limit"))
		}
	case "limit":
		f.Action = guard.FeatureLimit
		l, ok := c.Limit.check(errs)
		if !ok && len(*errs) == before {
			errs.Add(c.Action.Errorf("action limit needs limit: {rate: ..., burst: ...}"))
		}
		f.Limit = l
	default:
		errs.Add(c.Action.Errorf("want drop or limit, not %q", c.Action.V))
	}
	if f.Proto == 0 && f.SrcPort == 0 && f.DstPort == 0 && !f.HasTCPFlags && len(f.Payload) == 0 && len(*errs) == before {
		errs.Add(c.At.Errorf("a feature rule must match on something: proto, src_port, dst_port, tcp_flags or payload"))
	}
	return f, len(*errs) == before
}

// parseContent reads a payload written as Snort writes a content: text,
// with bytes in hex between vertical bars ("GET |20|/", "|00 01|stats").
func parseContent(s string) ([]byte, error) {
	var out []byte
	parts := strings.Split(s, "|")
	if len(parts)%2 == 0 {
		return nil, fmt.Errorf("payload %q: a hex part is not closed by |", s)
	}
	for i, p := range parts {
		if i%2 == 0 {
			out = append(out, p...)
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(p, " ", ""))
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("payload %q: |%s| is not hex bytes such as |0d 0a|", s, p)
		}
		out = append(out, b...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("payload %q is empty", s)
	}
	return out, nil
}

// tcpFlagNames are the flags' names in header order.
var tcpFlagNames = []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// parseTCPFlags reads flags written as "SYN|FIN|URG|PSH" (any case, any
// order), or "none".
func parseTCPFlags(s string) (packet.TCPFlags, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return 0, nil
	}
	var f packet.TCPFlags
	for _, name := range strings.Split(s, "|") {
		i := slices.IndexFunc(tcpFlagNames, func(n string) bool { return strings.EqualFold(n, strings.TrimSpace(name)) })
		if i < 0 {
			return 0, fmt.Errorf("unknown TCP flag %q in %q (want names from FIN, SYN, RST, PSH, ACK, URG, ECE, CWR joined by |, or none)", strings.TrimSpace(name), s)
		}
		f |= 1 << i
	}
	return f, nil
}
