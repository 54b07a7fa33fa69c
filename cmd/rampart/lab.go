package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/scenario"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

// labConfig is the lab: section of the configuration file.
type labConfig struct {
	// Topology is a topology file; empty means the standard topology.
	Topology config.Value[string] `yaml:"topology"`
	// Captures is the folder for the demo's captures and logs; empty means a
	// new temporary folder per run.
	Captures config.Value[string] `yaml:"captures"`
}

// check reads and validates the topology, and reports every problem.
func (c *labConfig) check() (*lab.Topology, error) {
	var errs srcpos.List
	t := lab.Standard()
	if c.Topology.V != "" && checkFile(&errs, c.Topology) {
		data, err := os.ReadFile(c.Topology.V)
		if err == nil {
			t, err = lab.ParseTopology(c.Topology.V, data)
		}
		if err != nil {
			fileError(&errs, c.Topology, err)
		}
	}
	if dir := c.Captures.V; dir != "" {
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			errs.Add(c.Captures.Errorf("%s is not a folder", dir))
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return t, nil
}

func init() { subcommands = append(subcommands, newLabCommand) }

func newLabCommand(a *app) *cobra.Command {
	var topoPath string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build test networks of real hosts in network namespaces and attack them",
		Long: `The lab builds real hosts as Linux network namespaces joined by veth pairs
and bridges, from a declarative topology, and runs the scenarios of a network
security course against rampart. Everything a run creates is named with a
per-run prefix (rp and four hex digits) and removed when the run ends, also on
SIGINT and SIGTERM; 'rampart lab down' removes what a crashed run left. Lab
hosts have no link to this machine's interfaces and no route out.

The standard topology ('rampart lab topology' prints it):
  inside   10.10.0.0/24, fd00:10::/64: client1, client2, dns (resolver host)
  fw       a layer-2 bump in the wire between inside and gw: a kernel bridge,
           or rampart's gateway when a scenario runs it
  gw       the router, lan towards fw, wan on outside
  outside  203.0.113.0/24, 2001:db8:113::/64: web, root, tld, auth servers
           198.51.100.0/24, 2001:db8:100::/64: attacker

The lab needs root.`,
	}
	cmd.PersistentFlags().StringVar(&topoPath, "topology", "", "topology file (default: the standard topology, or lab.topology from --config)")
	loadTopo := func() (*lab.Topology, error) {
		cfg := a.cfg.Lab
		if topoPath != "" {
			cfg.Topology = config.FromFlag(topoPath, "--topology")
		}
		return cfg.check()
	}

	var detach bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Bring the lab topology up and print it as a table",
		Long: `Bring the lab topology up, print it as a table, and keep it up until
SIGINT or SIGTERM, then remove it. With --detach, leave it up and exit: use
'rampart lab exec' to work in it and 'rampart lab down' to remove it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := loadTopo()
			if err != nil {
				return err
			}
			l, err := lab.Up(cmd.Context(), t, a.log)
			if err != nil {
				return labError(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Lab %s is up.\n\n%s", l.Prefix, t.Table(l.Prefix))
			if detach {
				fmt.Fprintf(out, "\nLeft running. Remove it with: rampart lab down\n")
				return nil
			}
			defer l.Down()
			fmt.Fprintf(out, "\nPress Ctrl-C to remove it.\n")
			<-cmd.Context().Done()
			return l.Down()
		},
	}
	up.Flags().BoolVar(&detach, "detach", false, "leave the lab running and exit")

	down := &cobra.Command{
		Use:   "down",
		Short: "Remove every lab namespace and process left on this machine",
		Long: `Remove every namespace whose name matches a lab run's (rp, four hex digits,
a dash), killing the processes still inside; their veth pairs and bridges go
with them. Use it after a crashed or detached run.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			removed, err := lab.Sweep()
			for _, n := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", n)
			}
			if err != nil {
				return labError(err)
			}
			if len(removed) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no lab namespaces found")
			}
			return nil
		},
	}

	demo := &cobra.Command{
		Use:   "demo",
		Short: "Run every lab scenario and report what each attack tried and each defence did",
		Long: `Bring the topology up, run the scenarios that exist in order, print a report
of what each one tried, what defended and what came of it, and remove the lab.
Captures and logs go to lab.captures from --config, or a new temporary folder.
Exits 1 when a scenario failed (a defence did not hold or traffic that should
pass did not).

Scenarios:
  connectivity  TCP and UDP echo from an inside client to the outside web host
                across the gateway host, IPv4 and IPv6, seen in a capture
  dns           the lab's DNS hierarchy (root, lab., example.lab. signed with
                keys made for the run, on the outside hosts) and rampart's
                resolver on the inside dns host: a cold and a cached lookup
                with their times, a validated one (AD), and the resolver
                refusing the outside attacker (no open resolver)
  firewall      rampart's gateway in place of the fw bridge, with a ufw-style
                policy (deny incoming, allow outgoing, allow ssh and http,
                reject 8080): what the attacker reaches and what it does not,
                replies to inside clients, a spoofed ACK dropped as invalid
  kaminsky      10 s of off-path spoofed answers (guessed IDs and ports) while
                an inside client triggers lookups of random example.lab names:
                the resolver must not be poisoned
  kaminsky-weak the same attack against a resolver weakened on purpose (fixed
                source port, no 0x20, no DNSSEC), which it must poison to show
                the attack works; then with DNSSEC on, forged answers must fail
                validation (SERVFAIL with an Extended DNS Error)
  bailiwick     a malicious server for evil.lab answering with records for
                example.lab: none may reach the cache`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := loadTopo()
			if err != nil {
				return err
			}
			if err := lab.CheckPrivileges(); err != nil {
				return err
			}
			dir := a.cfg.Lab.Captures.V
			if dir == "" {
				if dir, err = os.MkdirTemp("", "rampart-demo-"); err != nil {
					return err
				}
			} else if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			env := &lab.Env{Dir: dir, Progress: cmd.OutOrStdout(), Rampart: self}
			ok, err := lab.RunDemo(cmd.Context(), t, demoScenarios(), env, cmd.OutOrStdout())
			if err != nil {
				return labError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Captures and logs: %s\n", dir)
			if !ok {
				return &failure{code: 1, msg: "a scenario failed: see the report above"}
			}
			return nil
		},
	}

	topo := &cobra.Command{
		Use:   "topology",
		Short: "Print the standard topology as YAML, a starting point for your own",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := cmd.OutOrStdout().Write(lab.StandardYAML())
			return err
		},
	}

	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a topology file and print it as a table, creating nothing",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			t, err := lab.ParseTopology(args[0], data)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n\n%s", args[0], t.Table("PREFIX"))
			return nil
		},
	}

	exec := &cobra.Command{
		Use:   "exec PREFIX HOST -- COMMAND [ARG...]",
		Short: "Run a command inside a host of a running (detached) lab",
		Long: `Run a command inside a host of a running lab, for example
  rampart lab exec rp1a2b client1 -- ip addr
PREFIX is the run's prefix that 'rampart lab up' printed.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return usageErrorf("usage: rampart lab exec PREFIX HOST -- COMMAND [ARG...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ns := args[0] + "-" + args[1]
			if !lab.NamePattern.MatchString(ns) {
				return usageErrorf("%q is not a lab host (prefix rp and four hex digits, then the host name)", ns)
			}
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
				return usageErrorf("no lab host %s: is the lab up?", ns)
			}
			c := execInNamespace(cmd.Context(), ns, args[2:])
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Run(); err != nil {
				return &failure{code: 1, msg: fmt.Sprintf("%s: %v", strings.Join(args[2:], " "), err)}
			}
			return nil
		},
	}
	cmd.AddCommand(up, down, demo, topo, check, exec)
	cmd.AddCommand(newLabAttackCommand(a, loadTopo))
	return cmd
}

// demoScenarios is the demo, in order. It grows as capabilities land.
func demoScenarios() []lab.Scenario {
	return []lab.Scenario{
		scenario.Connectivity(),
		scenario.DNS(),
		scenario.Firewall(),
		scenario.PoisonKaminsky(),
		scenario.PoisonKaminskyWeak(),
		scenario.PoisonBailiwick(),
	}
}

// labError maps lab errors to exit codes: a bad topology is a usage error.
func labError(err error) error {
	var ce *srcpos.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, lab.ErrNotRoot) {
		return &usageError{err}
	}
	if errors.Is(err, context.Canceled) {
		return &failure{code: 1, msg: "interrupted: the lab was removed"}
	}
	return err
}
