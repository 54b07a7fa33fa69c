package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rampart-fw/rampart/dns/authoritative"
	"github.com/spf13/cobra"
)

// authoritativeConfig is the authoritative: section of the configuration file.
type authoritativeConfig struct {
	Listen  []string     `yaml:"listen"`
	Zones   []zoneConfig `yaml:"zones"`
	Metrics string       `yaml:"metrics"`
}

type zoneConfig struct {
	File   string `yaml:"file"`
	Origin string `yaml:"origin"`
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
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			if cmd.Flags().Changed("zone") {
				cfg.Zones = nil
				for _, z := range zones {
					cfg.Zones = append(cfg.Zones, zoneConfig{File: z})
				}
			}
			if cmd.Flags().Changed("metrics") {
				cfg.Metrics = metrics
			}
			if len(cfg.Listen) == 0 {
				cfg.Listen = []string{"127.0.0.1:53"}
			}
			if len(cfg.Zones) == 0 {
				return usageErrorf("no zones: give --zone FILE (or authoritative.zones in --config)")
			}
			loaded, err := loadZones(cfg.Zones)
			if err != nil {
				return &usageError{err}
			}
			srv, err := authoritative.New(authoritative.Config{Listen: cfg.Listen, Zones: loaded, Logger: a.log})
			if err != nil {
				return &usageError{err}
			}
			reg := newRegistry()
			reg.MustRegister(srv.Collector())
			ctx := cmd.Context()
			if err := serveMetrics(ctx, cfg.Metrics, reg, a.log); err != nil {
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

func loadZones(zs []zoneConfig) ([]*authoritative.Zone, error) {
	var out []*authoritative.Zone
	for _, z := range zs {
		zone, err := authoritative.LoadZone(z.File, z.Origin)
		if err != nil {
			return nil, err
		}
		out = append(out, zone)
	}
	return out, nil
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
