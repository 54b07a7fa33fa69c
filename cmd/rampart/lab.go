package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
		Use:   "down [PREFIX...]",
		Short: "Remove the lab runs left on this machine, saying what each one held",
		Long: `Remove every lab run left on this machine, or only those whose prefixes are
given (rp and four hex digits, as 'rampart lab up' printed): the namespaces
whose names match a run's (rp, four hex digits, a dash), the processes still
running inside them (killed), and the run's log folder under /run/rampart-lab;
their veth pairs and bridges go with the namespaces. For each run it prints
its prefix and what it found; it says so when there is nothing to remove.
Use it after a crashed or detached run. Without a prefix it also removes the
labs of runs still in progress, such as another user's demo.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range args {
				if !lab.NamePattern.MatchString(p + "-x") {
					return usageErrorf("%q is not a lab prefix (rp and four hex digits, e.g. rp1a2b)", p)
				}
			}
			removed, err := lab.Sweep(args...)
			out := cmd.OutOrStdout()
			for _, lo := range removed {
				printLeftover(out, lo)
			}
			if err != nil {
				return labError(err)
			}
			if len(removed) == 0 {
				if len(args) == 0 {
					fmt.Fprintln(out, "No lab found on this machine: nothing to remove.")
				} else {
					fmt.Fprintf(out, "No lab %s found on this machine: nothing to remove.\n", strings.Join(args, ", "))
				}
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
pass did not) or could not tell (inconclusive).

The report fits 100 columns: one block per scenario, a line per thing tried
with its verdict, what defended and the outcome. "ok" means the outcome was
the expected one; for the runs against a resolver weakened on purpose, the
expected outcome is that the attack works. It ends with a summary: how many
defences held and which did not; a defence that stopped an attack but let
legitimate names fail on the way (collateral damage) counts as not held.
The attacks print a progress line every few seconds while they run.

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
                example.lab: none may reach the cache
  reflection    5 s of queries spoofed from client2 for a large answer, sent
                by the attacker to the resolver: the amplification at client2
                without response rate limiting (the attack works) and with it
                (at most 1), lookups by client1 and client2 meanwhile, and
                spoofed sources outside the ACL refused without recursion
  proxy         rampart's proxy on gw for the inside clients: a page passes,
                a URL is blocked, a script with a forbidden string is
                stripped, a forged certificate served by the attacker for an
                intercepted name is refused with a 502, and a cache hit
  nat           rampart's gateway in router mode on gw with NAT (the outside
                hosts lose their route to the inside): inside clients reach
                web and web's link shows only the wan address, unsolicited
                inbound reaches nobody, a port forward from outside and by
                hairpin from inside, and pion's RFC 5780 client against
                coturn on web reports the mapping and filtering behaviour`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := loadTopo()
			if err != nil {
				return err
			}
			if err := lab.CheckPrivileges(); err != nil {
				return err
			}
			dir, cleanup, err := capturesDir(a, "rampart-demo-")
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				cleanup()
				return err
			}
			env := &lab.Env{Dir: dir, Progress: cmd.OutOrStdout(), Rampart: self}
			ok, err := lab.RunDemo(cmd.Context(), t, demoScenarios(), env, cmd.OutOrStdout())
			if err != nil {
				// No report points at the folder: it goes with the lab.
				cleanup()
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

// capturesDir is the folder for a run's captures and logs: lab.captures
// from --config, or a new temporary folder named by pattern. cleanup
// removes the folder if the run made it, for runs that end before saying
// where it is.
func capturesDir(a *app, pattern string) (dir string, cleanup func(), err error) {
	if dir = a.cfg.Lab.Captures.V; dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o700)
	}
	if dir, err = os.MkdirTemp("", pattern); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// printLeftover says what `rampart lab down` removed of one run.
func printLeftover(w io.Writer, lo lab.Leftover) {
	fmt.Fprintf(w, "Lab %s removed:\n", lo.Prefix)
	if len(lo.Namespaces) > 0 {
		fmt.Fprintf(w, "  %-17s %s\n", fmt.Sprintf("namespaces (%d):", len(lo.Namespaces)), strings.Join(lo.Namespaces, " "))
	}
	if len(lo.Processes) == 0 {
		fmt.Fprintf(w, "  %-17s none running\n", "processes:")
	}
	for i, p := range lo.Processes {
		label := ""
		if i == 0 {
			label = fmt.Sprintf("processes (%d):", len(lo.Processes))
		}
		fmt.Fprintf(w, "  %-17s %s, pid %d, in %s\n", label, p.Command, p.PID, p.Namespace)
	}
	if lo.StateDir != "" {
		fmt.Fprintf(w, "  %-17s %s\n", "log folder:", lo.StateDir)
	}
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
		scenario.Reflection(),
		scenario.Proxy(),
		scenario.SYNFlood(),
		scenario.Logic(),
		scenario.Overlap(),
		// It makes gw rampart's router for its runs and gives it back.
		scenario.TTLEvasion(),
		// Last: it makes gw rampart's router for good (the kernel's
		// addresses flushed, the outside's routes to the inside gone).
		scenario.NAT(),
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
