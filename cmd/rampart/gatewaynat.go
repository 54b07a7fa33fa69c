package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/dns/server"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/nat"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

// natConfig is the gateway.nat section: translation, which only a
// gateway in router mode does (it owns the addresses it translates to).
type natConfig struct {
	// Src is where the section is written.
	Src config.Source `yaml:"-"`
	// Masquerade lists the inside prefixes whose connections leave with
	// the wan address (one of them, when there are several: a pool).
	Masquerade []config.Prefix `yaml:"masquerade"`
	// Filtering: address-and-port-dependent (the default),
	// address-dependent or endpoint-independent.
	Filtering  config.Value[string]          `yaml:"filtering"`
	UDPTimeout config.Value[config.Duration] `yaml:"udp_timeout"`
	Forwards   []forwardConfig               `yaml:"forwards"`
	// MaxMappings bounds the mappings of all inside hosts together,
	// MaxMappingsPerHost those of one, so that one host cannot take every
	// public port.
	MaxMappings        config.Value[int] `yaml:"max_mappings"`
	MaxMappingsPerHost config.Value[int] `yaml:"max_mappings_per_host"`
}

// forwardConfig is one port forward: {proto: tcp, port: 2222, to: "10.10.0.22:22"}.
type forwardConfig struct {
	Src   config.Source        `yaml:"-"`
	Proto config.Value[string] `yaml:"proto"`
	Port  config.Value[int]    `yaml:"port"`
	To    config.AddrPort      `yaml:"to"`
}

// isSet reports whether the file set any key of the section.
func (c *natConfig) isSet() bool {
	return len(c.Masquerade) > 0 || c.Filtering.IsSet() || c.UDPTimeout.IsSet() || len(c.Forwards) > 0 ||
		c.MaxMappings.IsSet() || c.MaxMappingsPerHost.IsSet()
}

// check turns the section into the translator's configuration, without
// its public addresses (the wan's, which the router owns). Every problem
// goes into errs, at its place in the file.
func (c *natConfig) check(errs *srcpos.List) nat.Config {
	var cfg nat.Config
	for i, p := range c.Masquerade {
		key := fmt.Sprintf("gateway.nat.masquerade[%d]", i)
		switch {
		case !p.Addr().Is4():
			// IPv6 is routed and filtered, not translated.
			errs.Add(p.Pos.Errorf("%s: %v: only IPv4 prefixes are translated; IPv6 is routed as it is", key, p.Prefix))
		case p.Prefix != p.Masked():
			errs.Add(p.Pos.Errorf("%s: %v has host bits set; did you mean %v?", key, p.Prefix, p.Masked()))
		default:
			cfg.Masquerade = append(cfg.Masquerade, p.Prefix)
		}
	}
	if c.Filtering.IsSet() {
		f, err := nat.ParseFiltering(c.Filtering.V)
		if err != nil {
			errs.Add(c.Filtering.Errorf("want address-and-port-dependent, address-dependent or endpoint-independent, not %q", c.Filtering.V))
		}
		cfg.Filtering = f
	}
	cfg.UDPTimeout = c.UDPTimeout.V.D()
	if d := cfg.UDPTimeout; c.UDPTimeout.IsSet() && (d < nat.MinUDPTimeout || d > maxUDPTimeout) {
		errs.Add(c.UDPTimeout.Errorf("want %v to %v (RFC 4787 REQ-5: a UDP mapping lives at least 2 minutes), not %v", nat.MinUDPTimeout, maxUDPTimeout, d))
		cfg.UDPTimeout = 0
	}
	if v := c.MaxMappings; v.IsSet() {
		if v.V < 1 || v.V > nat.MaxMappingsLimit {
			errs.Add(v.Errorf("want 1 to %d mappings, not %d", nat.MaxMappingsLimit, v.V))
		} else {
			cfg.MaxMappings = v.V
		}
	}
	if v := c.MaxMappingsPerHost; v.IsSet() {
		total := c.MaxMappings.Or(nat.DefaultMaxMappings)
		if v.V < 1 || v.V > total {
			errs.Add(v.Errorf("want 1 to %d mappings per host (at most max_mappings), not %d", total, v.V))
		} else {
			cfg.PerHost = v.V
		}
	}
	seen := map[[2]int]config.Source{}
	for _, f := range c.Forwards {
		fw, ok := f.check(errs)
		if !ok {
			continue
		}
		k := [2]int{int(fw.Proto), int(fw.Port)}
		if was, dup := seen[k]; dup {
			errs.Add(f.Port.Errorf("%v port %d is forwarded already, by %v", fw.Proto, fw.Port, was))
			continue
		}
		seen[k] = f.Port.Src
		cfg.Forwards = append(cfg.Forwards, fw)
	}
	return cfg
}

// maxUDPTimeout is conntrack's bound on a time-out.
const maxUDPTimeout = 24 * time.Hour

func (f *forwardConfig) check(errs *srcpos.List) (nat.Forward, bool) {
	var fw nat.Forward
	ok := true
	switch {
	case !f.Proto.IsSet():
		errs.Add(f.Src.Errorf("a forward needs proto (tcp, udp, sctp, dccp or udplite)"))
		ok = false
	default:
		p, err := ipproto.Parse(strings.ToLower(f.Proto.V))
		if err != nil || !p.HasPorts() {
			errs.Add(f.Proto.Errorf("want a protocol with ports (tcp, udp, sctp, dccp or udplite), not %q", f.Proto.V))
			ok = false
		}
		fw.Proto = p
	}
	switch n := f.Port.V; {
	case !f.Port.IsSet():
		errs.Add(f.Src.Errorf("a forward needs port (the public port, 1 to 65535)"))
		ok = false
	case n < 1 || n > 65535:
		errs.Add(f.Port.Errorf("want a port of 1 to 65535, not %d", n))
		ok = false
	default:
		fw.Port = uint16(n)
	}
	switch to := f.To.AddrPort; {
	case !to.IsValid():
		errs.Add(f.Src.Errorf("a forward needs to (the inside ADDRESS:PORT)"))
		ok = false
	case !to.Addr().Is4() || to.Port() == 0:
		errs.Add(f.To.Pos.Errorf("%s.to: want an inside IPv4 ADDRESS:PORT with a port, not %v", f.Src.Key, to))
		ok = false
	default:
		fw.To = to
	}
	return fw, ok
}

// natSetup is a checked gateway.nat: the translator's configuration
// waiting for the wan addresses of router mode.
type natSetup struct {
	cfg nat.Config
	src config.Source // the section, for errors about it as a whole
}

// translator builds the translator of a gateway whose wan addresses are
// public (gateway.New prepares its connection table for it).
func (s *natSetup) translator(public []netip.Addr) (*nat.Translator, error) {
	cfg := s.cfg
	cfg.Public = public
	tr, err := nat.New(cfg)
	if err != nil {
		return nil, s.src.Errorf("%w", err)
	}
	return tr, nil
}

// defaultGatewayControl is where `rampart gateway` listens for control
// connections.
const defaultGatewayControl = "/run/rampart/gateway.sock"

// labNATTimer applies the hidden --lab-nat-udp-timeout: a UDP mapping
// timer below RFC 4787's floor, so that a lab test can watch a mapping
// expire without waiting minutes. Never from the configuration file.
func (s *gatewaySetup) labNATTimer(set bool, d time.Duration) error {
	if !set {
		return nil
	}
	if s.nat == nil || d <= 0 {
		return usageErrorf("--lab-nat-udp-timeout needs gateway.nat and a positive duration")
	}
	s.nat.cfg.UDPTimeout, s.nat.cfg.AllowShortTimers = d, true
	return nil
}

// translator builds the gateway's translator when gateway.nat is set. Only
// a router translates: it owns the wan addresses it translates to, which
// are the translator's public addresses (several make a pool).
func (s *gatewaySetup) translator(router bool, wan []netip.Addr) (*nat.Translator, error) {
	if s.nat == nil {
		return nil, nil
	}
	if !router {
		return nil, s.nat.src.Errorf("translation needs the gateway in router mode (mode: router), which owns the wan addresses")
	}
	return s.nat.translator(wan)
}

// serveGatewayControl serves the gateway's control socket (mode 0600)
// until ctx is done: "nat" lists the translated connections as
// `conntrack -L` does, "nat-mappings" the mappings.
func serveGatewayControl(ctx context.Context, a *app, path string, e *gateway.Engine) error {
	ctl := &server.Control{Path: path, Log: a.log, Commands: map[string]server.ControlFunc{
		"nat": func([]string) (string, error) {
			var b strings.Builder
			_, err := nat.List(&b, e.Conntrack(), time.Now())
			return b.String(), err
		},
		"nat-mappings": func([]string) (string, error) {
			tr := e.NAT()
			if tr == nil {
				return "", fmt.Errorf("this gateway does not translate (no gateway.nat)")
			}
			var b strings.Builder
			_, err := nat.ListMappings(&b, tr)
			return b.String(), err
		},
	}}
	ln, err := ctl.Listen()
	if err != nil {
		return err
	}
	go ctl.Serve(ctx, ln)
	return nil
}

func newGatewayNATCommand(a *app) *cobra.Command {
	var control string
	var mappings bool
	cmd := &cobra.Command{
		Use:   "nat",
		Short: "List the translated connections of a running gateway (over its control socket)",
		Long: `List the connections a running gateway translates, one a line, as 'conntrack -L'
prints them: the protocol and its number, the seconds left, the TCP state,
the original tuple (as the inside host sent it) with its packet and byte
counters, [UNREPLIED] while nothing came back, the reply tuple as replies
arrive (to the public address and port), [ASSURED], the mark. With
--mappings, list the mappings instead: each inside endpoint, its public
endpoint and the connections holding it.

The socket is --control, else gateway.control from --config, else
` + defaultGatewayControl + `. A first line on standard error names the socket it
talks to ("control socket: PATH") and a last one the count ("N flow entries
have been shown."); standard output carries only the list. Exits 1 naming
the socket when no gateway listens there.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := control
			if !cmd.Flags().Changed("control") {
				path = a.cfg.Gateway.Control.Or(defaultGatewayControl)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "control socket: %s\n", path)
			req, what := "nat", "flow entries"
			if mappings {
				req, what = "nat-mappings", "mappings"
			}
			out, err := server.ControlRequest(path, req)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), out)
			fmt.Fprintf(cmd.ErrOrStderr(), "%d %s have been shown.\n", strings.Count(out, "\n"), what)
			return nil
		},
	}
	cmd.Flags().StringVar(&control, "control", "", "control socket of the running gateway (default: gateway.control from --config, else "+defaultGatewayControl+")")
	cmd.Flags().BoolVar(&mappings, "mappings", false, "list the mappings, not the connections")
	return cmd
}
