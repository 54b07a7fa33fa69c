package scenario

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rampart-fw/rampart/lab"
)

// The overlap evasion: rampart's gateway on fw runs the IDS in line; the
// attacker sends each inside address a stream whose contested bytes
// arrive twice, in overlapping out-of-order segments, laid out so that
// the address's policy reads EVILCMD while a naive engine, one policy
// for every host, reads EVILXXX. Four runs: the target-based engine
// (host_policies) in detection mode; the naive engines, every host on
// bsd (Suricata's default) and every host on first (keep what came
// first); and the target-based engine in prevention mode, where the
// normaliser rewrites overlapping bytes to those it forwarded first, so
// that the host receives exactly what was inspected.

// overlapLayout is a segment pattern after Novak and Sturges: where the
// contested bytes (at c) arrive, in send order, and which naive policies
// it hides the attack from.
type overlapLayout struct {
	name      string
	segs      func(c int) []segment
	hidesFrom []string
}

// overlapLayouts chooses each policy's layout. A policy reads the attack;
// the naive engines named read the junk. Where the policy resolves
// overlaps as bsd does, no layout hides the attack from a bsd engine: the
// one used hides it from first.
var overlapLayouts = map[string]overlapLayout{
	"first": layoutEarlierJunk, "vista": layoutEarlierJunk,
	"last": layoutSameRange, "old-linux": layoutSameRange,
	"linux":   layoutLongerAttack,
	"solaris": layoutLaterAttack, "hpux11": layoutLaterAttack,
	"bsd": layoutEarlierAttack, "windows": layoutEarlierAttack, "hpux10": layoutEarlierAttack, "irix": layoutEarlierAttack, "macos": layoutEarlierAttack,
}

var (
	// The attack first, then junk starting a byte earlier: the earlier
	// start wins for bsd, the first bytes for first.
	layoutEarlierJunk = overlapLayout{"CMD!! at c, then LXXX!! at c-1", func(c int) []segment {
		return []segment{{Off: c, Data: evasionAttack + evasionTail}, {Off: c - 1, Data: "L" + evasionJunk + evasionTail}}
	}, []string{"bsd"}}
	// Junk, then the attack over the same range: the later copy wins.
	layoutSameRange = overlapLayout{"XXX!! at c, then CMD!! at c", func(c int) []segment {
		return []segment{{Off: c, Data: evasionJunk + evasionTail}, {Off: c, Data: evasionAttack + evasionTail}}
	}, []string{"bsd", "first"}}
	// Junk, then the attack from the same start, ending later.
	layoutLongerAttack = overlapLayout{"XXX at c, then CMD!! at c", func(c int) []segment {
		return []segment{{Off: c, Data: evasionJunk}, {Off: c, Data: evasionAttack + evasionTail}}
	}, []string{"bsd", "first"}}
	// Junk from a byte earlier, then the attack starting and ending
	// later.
	layoutLaterAttack = overlapLayout{"LXXX at c-1, then CMD!! at c", func(c int) []segment {
		return []segment{{Off: c - 1, Data: "L" + evasionJunk}, {Off: c, Data: evasionAttack + evasionTail}}
	}, []string{"bsd", "first"}}
	// Junk, then the attack starting a byte earlier.
	layoutEarlierAttack = overlapLayout{"XXX!! at c, then LCMD!! at c-1", func(c int) []segment {
		return []segment{{Off: c, Data: evasionJunk + evasionTail}, {Off: c - 1, Data: "L" + evasionAttack + evasionTail}}
	}, []string{"first"}}
)

// NaivePolicies are the naive engines the overlap evasion is tried
// against: Suricata's default for everyone, and first-come.
var NaivePolicies = []string{"bsd", "first"}

// OverlapTargets returns the overlap evasion's targets, one per stream
// policy.
func OverlapTargets() []EvasionTarget {
	out := make([]EvasionTarget, len(StreamPolicies))
	for i, p := range StreamPolicies {
		lay := overlapLayouts[p]
		t := EvasionTarget{Policy: p, Addr: evasionAddr(i), Layout: lay.name, prefix: fmt.Sprintf("lab-overlap %s ", p)}
		t.segs = lay.segs(t.contested())
		out[i] = t
	}
	return out
}

// NaiveMisses returns the policies of the targets whose layout hides the
// attack from a naive engine with policy naive.
func NaiveMisses(targets []EvasionTarget, naive string) []string {
	var out []string
	for _, t := range targets {
		if slices.Contains(overlapLayouts[t.Policy].hidesFrom, naive) {
			out = append(out, t.Policy)
		}
	}
	return out
}

// OverlapResult is the runs of the overlap evasion: the target-based
// engine detecting, each naive engine detecting, the target-based engine
// preventing. Err is a failure to set the runs up; each run has its
// own.
type OverlapResult struct {
	Targets []EvasionTarget
	Detect  EvasionRun
	Naive   []EvasionRun
	Prevent EvasionRun
	Err     error
}

// Overlap is the demo's overlap-evasion scenario.
func Overlap() lab.Scenario {
	return lab.Scenario{Name: "overlap", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		return RunOverlap(ctx, l, env).LabResults("overlap")
	}}
}

// RunOverlap runs the overlap evasion: every run through rampart's
// gateway on fw.
func RunOverlap(ctx context.Context, l *lab.Lab, env *lab.Env) (res OverlapResult) {
	res.Targets = OverlapTargets()
	remove, err := addEvasionAddrs(ctx, l, res.Targets)
	if err != nil {
		res.Err = err
		return res
	}
	defer remove()
	start := func(ctx context.Context, dir, ids string) (func(), error) {
		g, err := StartGatewayConfig(ctx, l, env.Rampart, dir, EvasionPolicy, "  workers: 1\n"+ids)
		if err != nil {
			return nil, err
		}
		return g.Stop, nil
	}
	base := filepath.Join(env.Dir, "overlap")
	run := func(tag string, e EvasionEngine) EvasionRun {
		env.Logf("overlap evasion against %d target policies: %s", len(res.Targets), e.Name)
		return runEvasion(ctx, l, env, filepath.Join(base, tag), res.Targets, e, start)
	}
	res.Detect = run("detect", EvasionEngine{Name: "target-based engine, detection mode", Mode: "detect"})
	for _, p := range NaivePolicies {
		res.Naive = append(res.Naive, run("naive-"+p, EvasionEngine{Name: "naive engine (" + p + " for every host), detection mode", Mode: "detect", Naive: p}))
	}
	res.Prevent = run("prevent", EvasionEngine{Name: "target-based engine, prevention mode", Mode: "prevent"})
	return res
}

// LabResults are the run's lines of the demo report.
func (r OverlapResult) LabResults(scenario string) []lab.Result {
	if r.Err != nil {
		res := lab.Result{Scenario: scenario, Kind: lab.Defence, Tried: "overlap evasion through rampart's gateway"}
		inconclusive(&res, r.Err.Error())
		return []lab.Result{res}
	}
	n := len(r.Targets)
	what := fmt.Sprintf("EVILCMD split by overlapping out-of-order segments, sent to %d inside addresses, one per stream policy", n)
	out := []lab.Result{detectLine(scenario, r.Targets, &r.Detect, "overlap evasion: "+what, "target-based reassembly (ids.host_policies), detection mode")}
	for i, p := range NaivePolicies {
		run := &r.Naive[i]
		missed, want := run.Missed(r.Targets), NaiveMisses(r.Targets, p)
		line := lab.Result{Scenario: scenario, Kind: lab.Proof,
			Tried:   fmt.Sprintf("the same against a naive engine: every host reassembled as %s", p),
			Defence: "one stream policy for everyone",
			OK:      slices.Equal(missed, want),
			Outcome: fmt.Sprintf("the alert missed %d of %d targets: %s", len(missed), n, strings.Join(missed, ", ")),
		}
		if run.Err != nil {
			inconclusive(&line, run.Err.Error())
			out = append(out, line)
			continue
		}
		if same := alike(r.Targets, p); len(same) > 0 {
			line.Outcome += fmt.Sprintf("; %s resolve overlaps as %s does: no layout hides the attack from it", strings.Join(same, ", "), p)
		}
		if !line.OK {
			line.Outcome += fmt.Sprintf(" (expected to miss %s)", strings.Join(want, ", "))
		}
		out = append(out, line)
	}
	return append(out, preventLine(scenario, r.Targets, &r.Prevent, "the same, the IDS in prevention mode",
		"normalisation: overlapping bytes rewritten to those forwarded first"))
}

// alike returns the target policies that the naive policy cannot be told
// apart from: those that resolve every overlap as it does, so that no
// layout hides the attack from it (their layouts hide it from the other
// naive engine).
func alike(targets []EvasionTarget, naive string) []string {
	var out []string
	for _, t := range targets {
		if !slices.Contains(overlapLayouts[t.Policy].hidesFrom, naive) {
			out = append(out, t.Policy)
		}
	}
	return out
}

// detectLine is the report line of a detection run: the alert must fire
// for every target. Its details say, per target, what was sent, what the
// engine inspected and what the host read.
func detectLine(scenario string, targets []EvasionTarget, run *EvasionRun, tried, defence string) lab.Result {
	line := lab.Result{Scenario: scenario, Kind: lab.Defence, Tried: tried, Defence: defence}
	if run.Err != nil {
		inconclusive(&line, run.Err.Error())
		return line
	}
	missed := run.Missed(targets)
	line.OK = len(missed) == 0
	if line.OK {
		line.Outcome = fmt.Sprintf("the alert fired for all %d targets", len(targets))
	} else {
		line.Outcome = fmt.Sprintf("the alert missed %d of %d targets: %s", len(missed), len(targets), strings.Join(missed, ", "))
	}
	for i := range targets {
		t := &targets[i]
		line.Details = append(line.Details, fmt.Sprintf("%s (%s): %s; inspected %s, client2 read %s", t.Policy, t.Addr, t.Layout, orNone(run.Inspected[i]), t.Reading(run.Received[i])))
	}
	return line
}

// preventLine is the report line of a prevention run: for every target
// client2 received exactly the bytes inspected, and the alert fired
// exactly where those bytes carry the attack.
func preventLine(scenario string, targets []EvasionTarget, run *EvasionRun, tried, defence string) lab.Result {
	if run.Err != nil {
		line := lab.Result{Scenario: scenario, Kind: lab.Defence, Tried: tried, Defence: defence}
		inconclusive(&line, run.Err.Error())
		return line
	}
	same, mismatch := run.Faithful(targets)
	for i := range targets {
		if attack := run.Inspected[i] == "EVIL"+evasionAttack; attack != run.Alerted[i] {
			mismatch = append(mismatch, fmt.Sprintf("%s: inspected %s, alert %s", targets[i].Policy, orNone(run.Inspected[i]), yesNo(run.Alerted[i])))
		}
	}
	line := lab.Result{Scenario: scenario, Kind: lab.Defence, Tried: tried, Defence: defence, OK: len(mismatch) == 0}
	var attack, junk []string
	for i := range targets {
		if run.Inspected[i] == "EVIL"+evasionAttack {
			attack = append(attack, targets[i].Policy)
		} else {
			junk = append(junk, targets[i].Policy)
		}
	}
	line.Outcome = fmt.Sprintf("client2 received exactly the bytes inspected for %d of %d targets", len(same), len(targets))
	if len(attack) > 0 {
		line.Outcome += fmt.Sprintf("; EVILCMD, alerted, for %s", strings.Join(attack, ", "))
	}
	if len(junk) > 0 {
		line.Outcome += fmt.Sprintf("; EVILXXX for %s", strings.Join(junk, ", "))
	}
	if len(mismatch) > 0 {
		line.Outcome += "; but " + strings.Join(mismatch, "; ")
	}
	return line
}

func orNone(s string) string {
	if s == "" {
		return "nothing the rules recognise"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
