package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/dns/authoritative"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

// authoritativeConfig is the authoritative: section of the configuration file.
type authoritativeConfig struct {
	Listen  []config.Value[string] `yaml:"listen"`
	Zones   []zoneConfig           `yaml:"zones"`
	Metrics config.Value[string]   `yaml:"metrics"`
}

type zoneConfig struct {
	File   config.Value[string] `yaml:"file"`
	Origin config.Value[string] `yaml:"origin"`
	At     config.Source        `yaml:"-"`
}

// authoritativeSetup is a checked authoritativeConfig: what the server
// starts from.
type authoritativeSetup struct {
	listen  []string
	zones   []*authoritative.Zone
	metrics string
}

// check makes every check of the server's start-up that needs no socket:
// the zone files are loaded, and every problem in them is reported.
func (c *authoritativeConfig) check() (*authoritativeSetup, error) {
	var errs srcpos.List
	s := &authoritativeSetup{metrics: c.Metrics.V}
	for _, l := range c.Listen {
		checkListenAddr(&errs, l, "127.0.0.1:53")
		s.listen = append(s.listen, l.V)
	}
	if len(s.listen) == 0 {
		s.listen = []string{"127.0.0.1:53"}
	}
	if c.Metrics.V != "" {
		checkListenAddr(&errs, c.Metrics, "127.0.0.1:9153")
	}
	zones, err := loadZones(c.Zones)
	errs.Add(err)
	s.zones = zones
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return s, nil
}

// loadZones loads every zone, and reports every problem of every zone.
func loadZones(zs []zoneConfig) ([]*authoritative.Zone, error) {
	var out []*authoritative.Zone
	var errs srcpos.List
	for _, z := range zs {
		ok := true
		if _, valid := dns.IsDomainName(z.Origin.V); z.Origin.V != "" && !valid {
			errs.Add(z.Origin.Errorf("%q is not a domain name", z.Origin.V))
			ok = false
		}
		if z.File.V == "" {
			errs.Add(z.At.Errorf("a zone needs a file"))
			continue
		}
		if !checkFile(&errs, z.File) || !ok {
			continue
		}
		zone, err := authoritative.LoadZone(z.File.V, z.Origin.V)
		if err != nil {
			fileError(&errs, z.File, err)
			continue
		}
		out = append(out, zone)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func init() { subcommands = append(subcommands, newAuthoritativeCommand) }

func newAuthoritativeCommand(a *app) *cobra.Command {
	var listen, zones []string
	var metrics string
	cmd := &cobra.Command{
		Use:   "authoritative",
		Short: "Serve DNS zone files authoritatively (the lab's root, TLD and example zones)",
		Long: `Serve DNS zone files authoritatively over UDP and TCP: answers with the AA
bit, referrals with in-bailiwick glue at zone cuts, NXDOMAIN and NODATA with the
SOA (RFC 2308), wildcards (RFC 4592), EDNS0 with truncation to the client's
size, and for DNSSEC-signed zones the signatures and NSEC/NSEC3 proofs when
the query sets DO. Queries for names outside the zones are REFUSED.

This is not the resolver ('rampart resolver'); the lab runs it on its outside
hosts to build a DNS hierarchy. SIGHUP reloads the zone files: all or nothing,
a zone with an error keeps the old zones serving.

Example:
  rampart authoritative --listen 203.0.113.10:53 --zone root.zone`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := a.cfg.Authoritative
			fl := cmd.Flags()
			if fl.Changed("listen") {
				cfg.Listen = nil
				for _, l := range listen {
					cfg.Listen = append(cfg.Listen, config.FromFlag(l, "--listen"))
				}
			}
			if fl.Changed("zone") {
				cfg.Zones = nil
				for _, z := range zones {
					cfg.Zones = append(cfg.Zones, zoneConfig{File: config.FromFlag(z, "--zone")})
				}
			}
			override(fl, "metrics", &cfg.Metrics, metrics)
			if len(cfg.Zones) == 0 {
				return usageErrorf("no zones: give --zone FILE (or authoritative.zones in --config)")
			}
			setup, err := cfg.check()
			if err != nil {
				return err
			}
			loaded := setup.zones
			srv, err := authoritative.New(authoritative.Config{Listen: setup.listen, Zones: loaded, Logger: a.log})
			if err != nil {
				return &usageError{err}
			}
			reg := newRegistry()
			reg.MustRegister(srv.Collector())
			ctx := cmd.Context()
			if err := serveMetrics(ctx, setup.metrics, reg, a.log); err != nil {
				return fmt.Errorf("metrics: %w", err)
			}
			go reloadOnHUP(ctx, func() {
				z, err := loadZones(cfg.Zones)
				if err == nil {
					err = srv.SetZones(z)
				}
				if err != nil {
					a.log.Error("reload refused; the old zones keep serving", "err", err)
					return
				}
				a.log.Info("zones reloaded", "zones", len(z))
			})
			for _, z := range loaded {
				a.log.Info("serving zone", "origin", z.Origin(), "file", z.File(), "signed", z.Signed())
			}
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&listen, "listen", nil, "address:port to serve on, UDP and TCP; repeatable (default 127.0.0.1:53)")
	f.StringArrayVar(&zones, "zone", nil, "zone file to serve (the SOA names the zone); repeatable")
	f.StringVar(&metrics, "metrics", "", "ADDRESS:PORT to serve Prometheus metrics (/metrics) and profiles (/debug/pprof/) on")
	return cmd
}

// reloadOnHUP calls reload on every SIGHUP until ctx is done.
func reloadOnHUP(ctx context.Context, reload func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			reload()
		}
	}
}
