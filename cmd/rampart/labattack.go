package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rampart-fw/rampart/lab"
	"github.com/rampart-fw/rampart/lab/scenario"
	"github.com/spf13/cobra"
)

// newLabAttackCommand is `rampart lab attack`: one attack at a time against
// a fresh lab, with the numbers printed.
func newLabAttackCommand(a *app, loadTopo func() (*lab.Topology, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attack",
		Short: "Bring the lab up and run one DNS cache-poisoning attack against rampart's resolver",
		Long: `Bring the lab up, start the DNS hierarchy and rampart's resolver, run one
attack, print what it tried and whether the resolver's cache ended up
poisoned (asked afterwards from client2), and remove the lab.`,
	}
	var weak bool
	var duration time.Duration
	var maxPackets uint64
	kaminsky := &cobra.Command{
		Use:   "kaminsky",
		Short: "Off-path Kaminsky attack: random names under example.lab. and a flood of forged answers",
		Long: `client1 (the attacker's foothold inside) asks the resolver for random names
under example.lab. while the attacker host floods the resolver with answers
forged from example.lab.'s server (203.0.113.30:53) at guessed ports and IDs,
each claiming ns1.example.lab. is 198.51.100.66. The attacker never sees the
resolver's queries. It stops at the first forged answer accepted, after
--duration, or after --max-packets.

With --weak the resolver runs with the lab-only --lab-weaken option (fixed
source port 33333, no 0x20), so the attacker guesses only the 16-bit ID:
that run shows the attack itself works.

Exit status: 0 when the default resolver held, or with --weak when it was
poisoned as expected; 1 otherwise.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if duration <= 0 || duration > time.Hour {
				return usageErrorf("--duration must be between 0 and 1h, got %s", duration)
			}
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (bool, error) {
				fmt.Fprintf(out, "Kaminsky attack against the %s, for at most %s or %d packets ...\n", targetName(weak), duration, maxPackets)
				r := scenario.Kaminsky(cmd.Context(), l, env, scenario.KaminskyOptions{Weak: weak, Duration: duration, MaxPackets: maxPackets})
				if errors.Is(r.Err, scenario.ErrWeakenUnavailable) {
					return false, &failure{code: 1, msg: r.Err.Error()}
				}
				if r.Err != nil {
					return false, r.Err
				}
				fmt.Fprintf(out, "  attempts (trigger queries): %d (%d unanswered)\n", r.Rounds, r.Timeouts)
				fmt.Fprintf(out, "  spoofed packets sent:       %d (%d refused by the kernel)\n", r.Packets, r.Lost)
				fmt.Fprintf(out, "  rate:                       %.0f packets/s\n", r.Rate())
				fmt.Fprintf(out, "  elapsed:                    %s\n", r.Elapsed.Round(time.Millisecond))
				if r.RaceWon {
					fmt.Fprintf(out, "  forged answer accepted:     yes, for %s in round %d after %s\n", r.WonName, r.WonRound, r.WonAfter.Round(time.Millisecond))
				} else {
					fmt.Fprintf(out, "  forged answer accepted:     no\n")
				}
				fmt.Fprintf(out, "  poisoned:                   %s\n", yesNo(r.Poisoned))
				fmt.Fprintf(out, "  zone hijacked (www/ns1):    %s\n", yesNo(r.Hijacked))
				fmt.Fprintf(out, "  the resolver answers now:\n")
				for _, s := range r.After {
					fmt.Fprintf(out, "    %s\n", s)
				}
				return r.LabResult("kaminsky").OK, nil
			})
		},
	}
	kaminsky.Flags().BoolVar(&weak, "weak", false, "attack a deliberately weakened resolver (fixed source port, no 0x20)")
	kaminsky.Flags().DurationVar(&duration, "duration", 60*time.Second, "wall-clock bound of the flood")
	kaminsky.Flags().Uint64Var(&maxPackets, "max-packets", 100_000_000, "bound on the spoofed packets")

	var bwWeak, bwValidate bool
	bailiwick := &cobra.Command{
		Use:   "bailiwick",
		Short: "A malicious authoritative server for evil.lab. answers with records for example.lab.",
		Long: `The attacker host serves evil.lab. (delegated to it by lab.) and stuffs every
answer with records it has no authority over: example.lab. NS ns.evil.lab.,
A records for www and ns1.example.lab pointing at the attacker, in the
answer, authority and additional sections. client1 asks for www.evil.lab;
then www.example.lab and ns1.example.lab must still have their real
addresses.

With --weak the resolver runs with the lab-only --lab-weaken-bailiwick
option (out-of-bailiwick records are cached, as before 1997) and without
DNSSEC validation, since example.lab. is signed and validation alone would
stop the injection: that run shows the attack itself works. --weak
--validate keeps validation on, which must then hold on its own.

Exit status: 0 when the default or the validating resolver was not
poisoned, or with --weak alone when it was poisoned as expected; 1
otherwise.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if bwValidate && !bwWeak {
				return usageErrorf("--validate goes with --weak: the default resolver always validates")
			}
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (bool, error) {
				fmt.Fprintf(out, "Bailiwick attack against the %s: client1 asks for www.evil.lab ...\n", bailiwickTargetName(bwWeak, bwValidate))
				r := scenario.Bailiwick(cmd.Context(), l, env, scenario.BailiwickOptions{Weak: bwWeak, Validate: bwValidate})
				if errors.Is(r.Err, scenario.ErrWeakenUnavailable) {
					return false, &failure{code: 1, msg: r.Err.Error()}
				}
				if r.Err != nil {
					return false, r.Err
				}
				fmt.Fprintf(out, "  attempts: 1 trigger query; the malicious server answered %d queries\n", r.EvilQueries)
				fmt.Fprintf(out, "  www.evil.lab A → %s\n", r.Trigger)
				fmt.Fprintf(out, "  poisoned: %s\n", yesNo(r.Poisoned))
				fmt.Fprintf(out, "  the resolver answers now:\n")
				for _, s := range r.After {
					fmt.Fprintf(out, "    %s\n", s)
				}
				return r.LabResult("bailiwick").OK, nil
			})
		},
	}
	bailiwick.Flags().BoolVar(&bwWeak, "weak", false, "attack a resolver without the bailiwick check (and, unless --validate, without DNSSEC)")
	bailiwick.Flags().BoolVar(&bwValidate, "validate", false, "with --weak: keep DNSSEC validation on")
	cmd.AddCommand(kaminsky, bailiwick)
	return cmd
}

// runAttack brings the lab up, runs fn and removes the lab. fn reports
// whether the outcome is the expected one.
func runAttack(cmd *cobra.Command, a *app, loadTopo func() (*lab.Topology, error), fn func(*lab.Lab, *lab.Env, io.Writer) (bool, error)) error {
	t, err := loadTopo()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	l, err := lab.New(t, a.log)
	if err != nil {
		return labError(err)
	}
	fmt.Fprintf(out, "Bringing up lab %s ...\n", l.Prefix)
	if err := l.Up(cmd.Context()); err != nil {
		return labError(err)
	}
	defer l.Down()
	dir := a.cfg.Lab.Captures.V
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rampart-attack-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := &lab.Env{Dir: dir, Progress: out, Rampart: self}
	start := time.Now()
	ok, err := fn(l, env, out)
	if err != nil {
		return labError(err)
	}
	if err := l.Down(); err != nil {
		return labError(err)
	}
	fmt.Fprintf(out, "Lab %s removed after %s. Logs: %s\n", l.Prefix, time.Since(start).Round(time.Millisecond), dir)
	if !ok {
		return &failure{code: 1, msg: "the outcome is not the expected one: see above"}
	}
	return nil
}

func targetName(weak bool) string {
	if weak {
		return "weakened resolver (--lab-weaken: fixed source port, no 0x20)"
	}
	return "default resolver"
}

func bailiwickTargetName(weak, validate bool) string {
	switch {
	case weak && validate:
		return "weakened resolver (--lab-weaken-bailiwick: no bailiwick check) that validates DNSSEC"
	case weak:
		return "weakened resolver (--lab-weaken-bailiwick: no bailiwick check, no DNSSEC)"
	}
	return "default resolver"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
