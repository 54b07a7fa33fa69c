package nat

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/rampart-fw/rampart/ipproto"
)

// Filtering is which inbound packets a mapping admits from endpoints its
// inside host has not sent to (RFC 4787 section 5, RFC 5382 section 4.3).
type Filtering uint8

const (
	// AddressAndPortDependent admits only the endpoints the inside host
	// sent to: nothing the connection table does not already know. The
	// default: the strictest, as a firewall wants (RFC 4787 REQ-8 and RFC
	// 5382 REQ-3 leave the choice to the administrator).
	AddressAndPortDependent Filtering = iota
	// AddressDependent admits any port of an address the inside host
	// sent to through the mapping.
	AddressDependent
	// EndpointIndependent admits every endpoint (RFC 4787 REQ-8's
	// recommendation for transparency).
	EndpointIndependent
	numFiltering
)

var filteringNames = [numFiltering]string{"address-and-port-dependent", "address-dependent", "endpoint-independent"}

// String returns the configuration's name of f.
func (f Filtering) String() string {
	if f < numFiltering {
		return filteringNames[f]
	}
	return fmt.Sprintf("filtering(%d)", uint8(f))
}

// ParseFiltering reads a filtering behaviour by its configuration name.
func ParseFiltering(s string) (Filtering, error) {
	for i, n := range filteringNames {
		if s == n {
			return Filtering(i), nil
		}
	}
	return 0, fmt.Errorf("unknown filtering %q (want address-and-port-dependent, address-dependent or endpoint-independent)", s)
}

// Forward is a port forward, a destination NAT: connections to Port of
// protocol Proto on any public address go to To, with the client's
// address unchanged.
type Forward struct {
	Proto ipproto.Proto
	Port  uint16
	To    netip.AddrPort
}

// Timer bounds (RFC 4787 REQ-5: a UDP mapping lives at least 2 minutes,
// 5 by default).
const (
	MinUDPTimeout     = 2 * time.Minute
	DefaultUDPTimeout = 5 * time.Minute
)

// Config configures a Translator.
type Config struct {
	// Masquerade lists the inside prefixes whose connections leave with
	// a public address as their source.
	Masquerade []netip.Prefix
	// Public is the wan address, or a pool of addresses; each inside
	// host gets one of its family for all its mappings (paired pooling,
	// RFC 4787 REQ-2). Port forwards listen on every one.
	Public []netip.Addr
	// Filtering is the inbound filtering of mappings [AddressAndPortDependent].
	Filtering Filtering
	// UDPTimeout is the UDP mapping timer [DefaultUDPTimeout]; New
	// refuses one below MinUDPTimeout unless AllowShortTimers is set.
	UDPTimeout time.Duration
	// AllowShortTimers lets tests shorten the UDP timer below the RFC's
	// floor.
	AllowShortTimers bool
	// Forwards are the port forwards.
	Forwards []Forward
	// MaxMappings bounds the mappings of all hosts [65536]; PerHost
	// bounds one inside host's [MaxMappings/16], so that one host cannot
	// take every port.
	MaxMappings int
	PerHost     int
}

// Defaults and limits of the bounds.
const (
	DefaultMaxMappings = 65536
	perHostShare       = 16
	MaxMappingsLimit   = 1 << 24
)

var errConfig = errors.New("nat")

func (cfg Config) normalize() (Config, error) {
	if cfg.Filtering >= numFiltering {
		return cfg, fmt.Errorf("%w: unknown filtering %d", errConfig, cfg.Filtering)
	}
	if cfg.UDPTimeout == 0 {
		cfg.UDPTimeout = DefaultUDPTimeout
	}
	if cfg.UDPTimeout < 0 || (cfg.UDPTimeout < MinUDPTimeout && !cfg.AllowShortTimers) {
		return cfg, fmt.Errorf("%w: UDP timeout %v is below %v (RFC 4787 REQ-5)", errConfig, cfg.UDPTimeout, MinUDPTimeout)
	}
	if cfg.MaxMappings == 0 {
		cfg.MaxMappings = DefaultMaxMappings
	}
	if cfg.MaxMappings < 1 || cfg.MaxMappings > MaxMappingsLimit {
		return cfg, fmt.Errorf("%w: %d mappings, want 1 to %d", errConfig, cfg.MaxMappings, MaxMappingsLimit)
	}
	if cfg.PerHost == 0 {
		cfg.PerHost = max(1, cfg.MaxMappings/perHostShare)
	}
	if cfg.PerHost < 1 || cfg.PerHost > cfg.MaxMappings {
		return cfg, fmt.Errorf("%w: %d mappings per host, want 1 to %d", errConfig, cfg.PerHost, cfg.MaxMappings)
	}
	for _, a := range cfg.Public {
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			return cfg, fmt.Errorf("%w: public address %v", errConfig, a)
		}
	}
	if len(cfg.Masquerade) > 0 && len(cfg.Public) == 0 {
		return cfg, fmt.Errorf("%w: masquerade needs a public address", errConfig)
	}
	for _, p := range cfg.Masquerade {
		if !p.IsValid() || p.Addr().Is4In6() {
			return cfg, fmt.Errorf("%w: masquerade prefix %v", errConfig, p)
		}
		if !slices.ContainsFunc(cfg.Public, func(a netip.Addr) bool { return a.Is4() == p.Addr().Is4() }) {
			return cfg, fmt.Errorf("%w: masquerade of %v needs a public address of its family", errConfig, p)
		}
	}
	seen := map[[2]uint16]bool{}
	for _, f := range cfg.Forwards {
		if !f.Proto.HasPorts() || f.Port == 0 || !f.To.IsValid() || f.To.Port() == 0 {
			return cfg, fmt.Errorf("%w: forward %v port %d to %v: want a protocol with ports and two non-zero ports", errConfig, f.Proto, f.Port, f.To)
		}
		k := [2]uint16{uint16(f.Proto), f.Port}
		if seen[k] {
			return cfg, fmt.Errorf("%w: %v port %d forwarded twice", errConfig, f.Proto, f.Port)
		}
		seen[k] = true
	}
	return cfg, nil
}
