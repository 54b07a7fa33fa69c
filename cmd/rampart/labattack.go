package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
		Short: "Bring the lab up and run one attack: DNS cache poisoning or reflection through rampart's resolver, or a SYN flood or logic attack through its gateway",
		Long: `Bring the lab up, run one attack, print what it tried and what the defence
made of it, and remove the lab. The DNS attacks start the DNS hierarchy and
rampart's resolver and ask afterwards (from client2) whether its cache
ended up poisoned; the reflection attack measures the amplification at the
victim; the SYN flood and the logic attacks run rampart's gateway on fw.`,
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

While the flood runs, a progress line every few seconds says what has been
sent so far.

Exit status: 0 when the default resolver held, or with --weak when it was
poisoned as expected; 1 otherwise, and when the run is inconclusive (the
check afterwards got no answer: the resolver is gone, or the query timed
out).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if duration <= 0 || duration > time.Hour {
				return usageErrorf("--duration must be between 0 and 1h, got %s", duration)
			}
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (lab.Result, error) {
				fmt.Fprintf(out, "Kaminsky attack against the %s, for at most %s or %d packets ...\n", scenario.KaminskyTarget(weak, false), duration, maxPackets)
				r := scenario.Kaminsky(cmd.Context(), l, env, scenario.KaminskyOptions{Weak: weak, Duration: duration, MaxPackets: maxPackets})
				if err := attackError(r.Err); err != nil {
					return lab.Result{}, err
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
				if r.CheckErr == nil || r.Poisoned {
					fmt.Fprintf(out, "  poisoned:                   %s\n", yesNo(r.Poisoned))
					fmt.Fprintf(out, "  zone hijacked (www/ns1):    %s\n", yesNo(r.Hijacked))
				}
				fmt.Fprintf(out, "  the resolver answers now:\n")
				for _, s := range r.After {
					fmt.Fprintf(out, "    %s\n", s)
				}
				return r.LabResult("kaminsky"), nil
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
otherwise, and when the run is inconclusive (the check afterwards got no
answer: the resolver is gone, or the query timed out).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if bwValidate && !bwWeak {
				return usageErrorf("--validate goes with --weak: the default resolver always validates")
			}
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (lab.Result, error) {
				fmt.Fprintf(out, "Bailiwick attack against the %s: client1 asks for www.evil.lab ...\n", scenario.BailiwickTarget(bwWeak, bwValidate))
				r := scenario.Bailiwick(cmd.Context(), l, env, scenario.BailiwickOptions{Weak: bwWeak, Validate: bwValidate})
				if err := attackError(r.Err); err != nil {
					return lab.Result{}, err
				}
				fmt.Fprintf(out, "  attempts: 1 trigger query; the malicious server answered %d queries\n", r.EvilQueries)
				fmt.Fprintf(out, "  www.evil.lab A → %s\n", r.Trigger)
				if r.CheckErr == nil || r.Poisoned {
					fmt.Fprintf(out, "  poisoned: %s\n", yesNo(r.Poisoned))
				}
				fmt.Fprintf(out, "  the resolver answers now:\n")
				for _, s := range r.After {
					fmt.Fprintf(out, "    %s\n", s)
				}
				return r.LabResult("bailiwick"), nil
			})
		},
	}
	bailiwick.Flags().BoolVar(&bwWeak, "weak", false, "attack a resolver without the bailiwick check (and, unless --validate, without DNSSEC)")
	bailiwick.Flags().BoolVar(&bwValidate, "validate", false, "with --weak: keep DNSSEC validation on")
	var sfDuration time.Duration
	synflood := &cobra.Command{
		Use:   "synflood",
		Short: "Spoofed SYN flood against the inside web server: rampart's SYN proxy, the kernel's, none",
		Long: `Run rampart's gateway on fw and make client2 a fragile web server (SYN
cookies off, a SYN backlog of 128, no TCP metrics kept, so that no client
counts as known). The attacker floods client2:80 with SYNs from spoofed
random sources (100.64.0.0/10, black-holed at gw so that nothing answers)
at its full rate for --duration, while web keeps connecting to client2:80
and echoing 64 bytes (a connection fails after 3 s). Twice: with the SYN
proxy on (gateway.guard.synproxy mode always for client2); for
comparison with rampart not running and the kernel's own synproxy
(nftables, in the forward hook of the routed gw host); and with rampart's
gateway but no SYN proxy.

Printed per run: the SYNs sent, the legitimate connections that completed
and their latency, the gateway's table, what the server dropped, and the
proxy's counters.

Exit status: 0 when the flood visibly hurt the legitimate client without
the proxy (under 90% completed) and with it at least 99% completed with no
table entry for a spoofed SYN; 1 otherwise.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sfDuration <= 0 || sfDuration > time.Hour {
				return usageErrorf("--duration must be between 0 and 1h, got %s", sfDuration)
			}
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (lab.Result, error) {
				fmt.Fprintf(out, "SYN flood against client2:80, %s each: rampart's SYN proxy, the kernel's (nftables on gw), none ...\n", sfDuration)
				r := scenario.RunSYNFlood(cmd.Context(), l, env, scenario.SYNFloodOptions{Duration: sfDuration})
				if r.Err != nil {
					return lab.Result{}, r.Err
				}
				for _, run := range []*scenario.SYNFloodRun{&r.On, &r.Kernel, &r.Off} {
					fmt.Fprintf(out, "  %s:\n", run.Name())
					fmt.Fprintf(out, "    spoofed SYNs sent:          %d in %s (%.0f/s)\n", run.Sent, run.Elapsed.Round(time.Millisecond), float64(run.Sent)/run.Elapsed.Seconds())
					fmt.Fprintf(out, "    legitimate connections:     %d of %d completed (%.1f%%)\n", run.Completed, run.Attempts, 100*run.Share())
					fmt.Fprintf(out, "    connect-to-echo latency:    median %s, p99 %s\n", run.Latency(0.5).Round(time.Millisecond), run.Latency(0.99).Round(time.Millisecond))
					if run.Mode == "kernel" {
						fmt.Fprintf(out, "    gw's conntrack table:       %.0f entries at the peak\n", run.Peak)
					} else {
						fmt.Fprintf(out, "    gateway table:              %.0f entries at the peak, %.0f created\n", run.Peak, run.Metric("rampart_conntrack_created_total"))
						fmt.Fprintf(out, "    gateway resident memory:    +%.1f MiB during the flood\n", float64(run.RSSGrowth())/(1<<20))
					}
					fmt.Fprintf(out, "    server:                     %d SYNs dropped, %d half-open at the end\n", run.ServerDrops, run.ServerHalfOpen)
					if run.Mode == "on" {
						fmt.Fprintf(out, "    proxy:                      %.0f SYNs answered with a cookie, %.0f valid cookies, %.0f spliced\n",
							run.Metric(`rampart_gateway_synproxy_events_total{event="synack"}`), run.Metric(`rampart_gateway_synproxy_events_total{event="cookie_ok"}`),
							run.Metric(`rampart_gateway_synproxy_events_total{event="spliced"}`))
					}
				}
				plot := filepath.Join(env.Dir, "synflood.svg")
				if err := r.WriteSVGFile(plot); err != nil {
					return lab.Result{}, err
				}
				fmt.Fprintf(out, "  plot: %s\n", plot)
				res := lab.Result{Scenario: "synflood", Kind: lab.Defence, Tried: "SYN flood", Defence: "SYN proxy", OK: true}
				for _, line := range r.LabResults("synflood") {
					if !line.OK {
						res.OK = false
						res.Outcome = line.Tried + ": " + line.Outcome
					}
				}
				if res.OK {
					res.Outcome = fmt.Sprintf("the flood let %.1f%% of legitimate connections through without the proxy, %.1f%% with it", 100*r.Off.Share(), 100*r.On.Share())
				}
				return res, nil
			})
		},
	}
	synflood.Flags().DurationVar(&sfDuration, "duration", 20*time.Second, "how long each run floods")
	cmd.AddCommand(kaminsky, bailiwick, newReflectionCommand(a, loadTopo), synflood, newOverlapCommand(a, loadTopo), newTTLEvasionCommand(a, loadTopo))
	for _, la := range []struct{ key, short string }{
		{"spoof", "UDP from a spoofed inside source (client1) to client2, sent from outside"},
		{"land", "LAND: a SYN from client2:80 to client2:80"},
		{"pod", "Ping of death: an echo request whose fragments reassemble past 65,535 bytes"},
		{"teardrop", "Teardrop: UDP fragments that overlap"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   la.key,
			Short: la.short + ", through the bare bridge and through the gateway",
			Long: la.short + `, sent from the attacker host: first
through the lab's plain kernel bridge on fw (no defence: the attack reaches
client2), then through rampart's gateway with a policy that lets everything
in to client2, so that what stops it is the guard, which counts it by
reason. What reached client2 is read from a capture on its interface;
afterwards web connects to client2:80.

Exit status: 0 when the attack reached client2 through the bridge, nothing
of it through the gateway, the guard counted it, and the legitimate
connection passed; 1 otherwise.`,
			Args: noArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (lab.Result, error) {
					r := scenario.RunLogic(cmd.Context(), l, env, la.key)
					if r.Err != nil {
						return lab.Result{}, r.Err
					}
					res := lab.Result{Scenario: la.key, Kind: lab.Defence, Tried: la.key, Defence: "guard", OK: true}
					for _, line := range r.LabResults(la.key) {
						fmt.Fprintf(out, "  %s: %s\n", line.Tried, line.Outcome)
						if !line.OK {
							res.OK = false
							res.Outcome = "not as expected: " + line.Tried
						}
					}
					if res.OK {
						res.Outcome = "it reached client2 through the bridge, nothing of it through the gateway"
					}
					return res, nil
				})
			},
		})
	}
	return cmd
}

// newOverlapCommand is `rampart lab attack overlap`.
func newOverlapCommand(a *app, loadTopo func() (*lab.Topology, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "overlap",
		Short: "IDS evasion by overlapping TCP segments, against inside hosts of 12 operating systems: target-based, naive and prevention",
		Long: `The attacker opens real TCP connections (a raw-socket client: its own
kernel's resets are dropped by nftables while it runs) to 12 inside
addresses that client2 carries for the run, one per stream policy of the
IDS (first, last, bsd, linux, old-linux, windows, vista, solaris, hpux10,
hpux11, irix, macos), and sends each "... EVIL" followed by the contested
bytes twice, in overlapping out-of-order segments (the start of the stream
comes last): laid out, after Novak and Sturges, so that the address's
policy reads EVILCMD, the signature, where a naive engine reads EVILXXX.
rampart's gateway on fw runs the IDS in line four times: in detection mode
with ids.host_policies giving each address its policy (the alert must fire
for all 12); with every host on bsd, Suricata's default, and with every
host on first (the naive engines: which targets each misses is printed,
and where a policy cannot be told apart from the naive one); and in
prevention mode, where the normaliser rewrites overlapping bytes to those
forwarded first: a listener on client2 records exactly the bytes its TCP
stack delivered, which must be the stream the engine inspected (rules
matching each whole stream from its first byte to its last say which).

Exit status: 0 when every outcome is the expected one; 1 otherwise.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (lab.Result, error) {
				fmt.Fprintf(out, "Overlap evasion against %d inside addresses, one per stream policy ...\n", len(scenario.StreamPolicies))
				r := scenario.RunOverlap(cmd.Context(), l, env)
				if r.Err != nil {
					return lab.Result{}, r.Err
				}
				return evasionVerdict(out, "overlap", r.LabResults("overlap")), nil
			})
		},
	}
}

// newTTLEvasionCommand is `rampart lab attack ttl-evasion`.
func newTTLEvasionCommand(a *app, loadTopo func() (*lab.Topology, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "ttl-evasion",
		Short: "IDS evasion by junk segments that expire before the host, against inside hosts of 12 operating systems, through rampart as gw's router",
		Long: `rampart runs as the lab's gw in router mode with the IDS in line (the kernel
gets gw back afterwards). The attacker opens real TCP connections (a
raw-socket client) to 12 inside addresses that client2 carries for the
run, one per stream policy, and sends each "... EVIL" followed by the
command CMD and junk XXX over the same bytes with a TTL of 1, laid out so
that the address's policy would keep the junk were both to arrive: the
junk expires at gw, after the engine saw it, and the host reads EVILCMD.
Runs: the inline engine in detection mode (the router answers the junk
with time exceeded and never hands it to the IDS as delivered; the alert
must fire for all 12), with the attacker's link captured; that capture
through rampart inspect with the targets' policies but no hop distances
(the naive engine: it takes the junk for delivered and must miss every
target) and with ids.default.hops: 1 (it must not, and must report each
junk segment as stream.ttl_evasion); and the
inline engine in prevention mode, where a listener on client2 records
exactly the bytes its TCP stack delivered, which must be the stream the
engine inspected (rules matching each whole stream say which).

Exit status: 0 when every outcome is the expected one; 1 otherwise.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (lab.Result, error) {
				fmt.Fprintf(out, "TTL evasion against %d inside addresses, one per stream policy, through rampart as gw's router ...\n", len(scenario.StreamPolicies))
				r := scenario.RunTTLEvasion(cmd.Context(), l, env)
				if r.Err != nil {
					return lab.Result{}, r.Err
				}
				return evasionVerdict(out, "ttl-evasion", r.LabResults("ttl-evasion")), nil
			})
		},
	}
}

// evasionVerdict prints an evasion's report lines and sums them up in one
// result.
func evasionVerdict(out io.Writer, scenarioName string, lines []lab.Result) lab.Result {
	res := lab.Result{Scenario: scenarioName, Kind: lab.Defence, Tried: scenarioName, Defence: "IDS", OK: true}
	var outcomes []string
	for _, line := range lines {
		fmt.Fprintf(out, "  %-6s %s\n         %s\n", okWord(line.OK), line.Tried, line.Outcome)
		for _, d := range line.Details {
			fmt.Fprintf(out, "           %s\n", d)
		}
		if !line.OK {
			res.OK = false
			outcomes = append(outcomes, "not as expected: "+line.Tried)
		}
	}
	res.Outcome = "every outcome as expected: the target-based engine alerted for every target, and in prevention mode the host received exactly the bytes inspected"
	if !res.OK {
		res.Outcome = strings.Join(outcomes, "; ")
	}
	return res
}

// newReflectionCommand is `rampart lab attack reflection`.
func newReflectionCommand(a *app, loadTopo func() (*lab.Topology, error)) *cobra.Command {
	var rrl string
	var duration time.Duration
	var rate int
	cmd := &cobra.Command{
		Use:   "reflection",
		Short: "Spoofed queries naming a victim's address, sent to the resolver: the amplification with RRL off and on",
		Long: `The attacker host sends the resolver queries for ` + scenario.ReflectionName + ` TXT (an answer
larger than 1232 octets) whose source address is client2's, inside the
resolver's ACL, at --rate queries a second for --duration, so that the
answers land on client2. client2's interface is captured: the amplification
factor is the IP octets client2 received from the resolver over the IP
octets the attacker sent. Meanwhile client1 looks up another name and
client2 looks up the attacked name itself (over TCP when the answer comes
back truncated). With RRL on, a short burst spoofed from web (outside the
ACL) must get REFUSED only and cause no resolution.

--rrl both (the default) runs the resolver without response rate limiting,
then with the lab's resolver.rrl (5 responses a second, slip 2); --rrl off
or --rrl on runs one of them.

Exit status: 0 when every outcome is the expected one (without RRL the
attack amplifies, with RRL the factor is at most 1 and legitimate lookups
succeed); 1 otherwise.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var modes []bool
			switch rrl {
			case "both":
				modes = []bool{false, true}
			case "off":
				modes = []bool{false}
			case "on":
				modes = []bool{true}
			default:
				return usageErrorf("--rrl: want on, off or both, not %q", rrl)
			}
			if duration <= 0 || duration > 10*time.Minute {
				return usageErrorf("--duration must be between 0 and 10m, got %s", duration)
			}
			if rate < 1 || rate > 1_000_000 {
				return usageErrorf("--rate must be between 1 and 1000000 queries a second, got %d", rate)
			}
			return runAttack(cmd, a, loadTopo, func(l *lab.Lab, env *lab.Env, out io.Writer) (lab.Result, error) {
				verdict := lab.Result{Scenario: "reflection", Kind: lab.Defence, OK: true}
				var factors []string
				for _, on := range modes {
					fmt.Fprintf(out, "Reflection through the resolver with RRL %s: %d queries/s for %s ...\n", onOff(on), rate, duration)
					r := scenario.RunReflection(cmd.Context(), l, env, scenario.ReflectionOptions{RRL: on, Duration: duration, Rate: rate})
					if r.Err != nil {
						return lab.Result{}, r.Err
					}
					m := r.Metrics
					fmt.Fprintf(out, "  attacker sent:            %d queries, %d octets in %s (%d refused by its own queue)\n",
						r.Queries, r.AttackOctets, r.Elapsed.Round(time.Millisecond), r.Lost)
					fmt.Fprintf(out, "  victim received:          %d answers (%d truncated by RRL), %d octets\n", r.Answers, r.Slipped, r.VictimOctets)
					fmt.Fprintf(out, "  amplification factor:     %.2f\n", r.Factor())
					fmt.Fprintf(out, "  resolver limited:         %.0f (slipped %.0f, dropped %.0f); its ratio for 10.10.0.0/24: %.2f\n",
						m[`rampart_dns_rrl_responses_total{action="limited"}`], m[`rampart_dns_rrl_responses_total{action="slipped"}`],
						m[`rampart_dns_rrl_responses_total{action="dropped"}`], m[`rampart_dns_client_amplification_ratio{client="10.10.0.0/24"}`])
					for _, line := range r.LabResults("reflection") {
						fmt.Fprintf(out, "  %-6s %s: %s\n", okWord(line.OK), line.Tried, line.Outcome)
						verdict.OK = verdict.OK && line.OK
					}
					factors = append(factors, fmt.Sprintf("RRL %s: factor %.2f", onOff(on), r.Factor()))
				}
				verdict.Outcome = strings.Join(factors, "; ")
				if !verdict.OK {
					verdict.Outcome += " (not the expected outcome)"
				}
				return verdict, nil
			})
		},
	}
	cmd.Flags().StringVar(&rrl, "rrl", "both", "run the resolver without RRL (off), with it (on), or one after the other (both)")
	cmd.Flags().DurationVar(&duration, "duration", 5*time.Second, "how long the attacker floods, each run")
	cmd.Flags().IntVar(&rate, "rate", 2000, "spoofed queries a second")
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func okWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

// runAttack brings the lab up, runs fn, removes the lab, and prints the
// outcome of the run fn returns: exit 1 unless it is the expected one.
func runAttack(cmd *cobra.Command, a *app, loadTopo func() (*lab.Topology, error), fn func(*lab.Lab, *lab.Env, io.Writer) (lab.Result, error)) error {
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
	dir, cleanup, err := capturesDir(a, "rampart-attack-")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		cleanup()
		return err
	}
	env := &lab.Env{Dir: dir, Progress: out, Rampart: self}
	start := time.Now()
	r, err := fn(l, env, out)
	if err != nil {
		cleanup()
		return labError(err)
	}
	if err := l.Down(); err != nil {
		return labError(err)
	}
	fmt.Fprintf(out, "Lab %s removed after %s. Logs: %s\n", l.Prefix, time.Since(start).Round(time.Millisecond), dir)
	return attackVerdict(out, r)
}

// attackError is the exit for an attack that could not run.
func attackError(err error) error {
	if errors.Is(err, scenario.ErrWeakenUnavailable) {
		return &failure{code: 1, msg: err.Error()}
	}
	return err
}

// attackVerdict prints the outcome of an attack run and returns the exit
// status: nil when the outcome is the expected one, exit 1 when it is not
// and when the run is inconclusive.
func attackVerdict(out io.Writer, r lab.Result) error {
	fmt.Fprintf(out, "Outcome: %s\n", r.Outcome)
	switch {
	case r.Inconclusive:
		return &failure{code: 1, msg: "the run is inconclusive: it cannot tell whether the resolver held"}
	case !r.OK:
		return &failure{code: 1, msg: "the outcome is not the expected one: see above"}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
