package main

import (
	"net/netip"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/guard"
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
	for _, l := range []struct {
		cfg *limitConfig
		dst *guard.Limit
	}{{&c.Limits.NewConnectionsPerSource, &g.Limits.NewConnectionsPerSource},
		{&c.Limits.ICMPPerSource, &g.Limits.ICMPPerSource},
		{&c.Limits.SYNPerDestination, &g.Limits.SYNPerDestination}} {
		r, b := l.cfg.Rate, l.cfg.Burst
		switch {
		case !r.IsSet() && !b.IsSet():
			continue
		case !r.IsSet():
			errs.Add(b.Errorf("a burst needs a valid rate beside it"))
			continue
		}
		burst := b.Or(max(1, int(r.V.PerSecond())))
		if burst < 1 || burst > maxBurst {
			errs.Add(b.Errorf("want 1 to %d, not %d", maxBurst, burst))
			continue
		}
		*l.dst = guard.Limit{Rate: r.V.PerSecond(), Burst: burst}
	}
	return g
}
