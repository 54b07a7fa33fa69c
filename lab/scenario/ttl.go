package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rampart-fw/rampart/lab"
)

// The TTL evasion: rampart runs as the lab's gw in router mode with the
// IDS in line, so that a packet sent with a TTL of 1 expires there, never
// reaching the inside (the router answers it with time exceeded and
// does not hand it to the IDS as delivered); an engine in front of gw
// sees it. The attacker sends each
// inside address (one per stream policy, as in the overlap evasion) the
// contested bytes twice: the command, and junk with a TTL of 1 laid out
// so that the address's policy, were both to arrive, would keep the junk.
// The host receives the command; an engine that takes the junk for
// delivered reads EVILXXX. Runs: the inline engine in detection mode (a
// capture of the attacker's link is kept); the same capture through
// `rampart inspect` without hop distances (the naive engine: target-based
// reassembly, but every destination on its own link) and with the inside
// one router away; and the inline engine in prevention mode, where the
// host must receive exactly the inspected bytes.

// ttlJunk is the TTL of the junk: it expires at the first router.
const ttlJunk = 1

// ttlLayout returns the segments after the contested offset c for a
// policy: junk that the policy would keep over the command, were both to
// arrive.
func ttlLayout(policy string, c int) (name string, segs []segment) {
	switch policy {
	case "first", "vista":
		// The earlier copy wins: the junk first.
		return "XXX!! at c with TTL 1, then CMD!! at c", []segment{
			{Off: c, Data: evasionJunk + evasionTail, TTL: ttlJunk}, {Off: c, Data: evasionAttack + evasionTail}}
	}
	// Every other policy takes a later copy that starts earlier and ends
	// with the earlier one.
	return "CMD!! at c, then LXXX!! at c-1 with TTL 1", []segment{
		{Off: c, Data: evasionAttack + evasionTail}, {Off: c - 1, Data: "L" + evasionJunk + evasionTail, TTL: ttlJunk}}
}

// TTLTargets returns the TTL evasion's targets, one per stream policy.
func TTLTargets() []EvasionTarget {
	out := make([]EvasionTarget, len(StreamPolicies))
	for i, p := range StreamPolicies {
		t := EvasionTarget{Policy: p, Addr: evasionAddr(i), prefix: fmt.Sprintf("lab-ttl %s ", p)}
		t.Layout, t.segs = ttlLayout(p, t.contested())
		out[i] = t
	}
	return out
}

// TTLResult is the runs of the TTL evasion.
type TTLResult struct {
	Targets []EvasionTarget
	// Detect is the inline engine in detection mode; Naive and Hops the
	// capture of its run offline, without hop distances and with the
	// inside one router away. Err is a failure to set the runs up; each
	// run has its own.
	Detect, Naive, Hops EvasionRun
	Prevent             EvasionRun
	Err                 error
}

// TTLEvasion is the demo's TTL-evasion scenario. It gives gw back to its
// kernel afterwards.
func TTLEvasion() lab.Scenario {
	return lab.Scenario{Name: "ttl-evasion", Run: func(ctx context.Context, l *lab.Lab, env *lab.Env) []lab.Result {
		return RunTTLEvasion(ctx, l, env).LabResults("ttl-evasion")
	}}
}

// ttlOfflineHops is the configuration of the offline engine that knows
// the inside is one router (gw) beyond the capture.
const ttlOfflineHops = "  default: {hops: 1}\n"

// RunTTLEvasion runs the TTL evasion through rampart as gw's router.
func RunTTLEvasion(ctx context.Context, l *lab.Lab, env *lab.Env) (res TTLResult) {
	res.Targets = TTLTargets()
	remove, err := addEvasionAddrs(ctx, l, res.Targets)
	if err != nil {
		res.Err = err
		return res
	}
	defer remove()
	base := filepath.Join(env.Dir, "ttl-evasion")
	start := func(ctx context.Context, dir, ids string) (func(), error) {
		g, err := StartRouter(ctx, l, env.Rampart, dir, EvasionPolicy, ids)
		if err != nil {
			return nil, errors.Join(err, GiveBackToKernel(context.WithoutCancel(ctx), l, "gw"))
		}
		return func() {
			g.Stop()
			if err := GiveBackToKernel(context.WithoutCancel(ctx), l, "gw"); err != nil {
				env.Logf("give gw back to its kernel: %v", err)
			}
		}, nil
	}
	run := func(tag string, e EvasionEngine) EvasionRun {
		env.Logf("TTL evasion against %d target policies: %s", len(res.Targets), e.Name)
		return runEvasion(ctx, l, env, filepath.Join(base, tag), res.Targets, e, start)
	}
	detect := filepath.Join(base, "detect")
	if err := os.MkdirAll(detect, 0o700); err != nil {
		res.Err = err
		return res
	}
	// The capture of the attacker's link: what an engine in front of gw
	// sees.
	pcap := filepath.Join(detect, "attacker.pcap")
	capture, err := l.Host("attacker").Capture("eth0", pcap)
	if err != nil {
		res.Err = err
		return res
	}
	res.Detect = run("detect", EvasionEngine{Name: "inline in rampart's router, detection mode", Mode: "detect"})
	if _, err := capture.Stop(); err != nil && res.Detect.Err == nil {
		res.Detect.Err = err
	}
	offline := func(tag string, e EvasionEngine) EvasionRun {
		env.Logf("TTL evasion, the capture of the attacker's link offline: %s", e.Name)
		if res.Detect.Err != nil {
			return EvasionRun{Engine: e, Err: fmt.Errorf("no capture: %w", res.Detect.Err)}
		}
		r := inspectEvasion(ctx, env.Rampart, filepath.Join(base, tag), filepath.Join(detect, "evasion.rules"), pcap, res.Targets, e)
		r.Received = res.Detect.Received
		return r
	}
	res.Naive = offline("naive", EvasionEngine{Name: "rampart inspect without hop distances", Mode: "detect"})
	res.Hops = offline("hops", EvasionEngine{Name: "rampart inspect with the inside one router away (ids.default.hops: 1)", Mode: "detect", Extra: ttlOfflineHops})
	res.Prevent = run("prevent", EvasionEngine{Name: "inline in rampart's router, prevention mode", Mode: "prevent"})
	return res
}

// inspectEvasion runs `rampart inspect` with the targets' policies over a
// capture and reads its alerts.
func inspectEvasion(ctx context.Context, rampart, dir, rules, pcap string, targets []EvasionTarget, e EvasionEngine) (run EvasionRun) {
	run = newEvasionRun(e, len(targets))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		run.Err = err
		return run
	}
	config := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(config, []byte(e.idsSection(targets, "", "")), 0o600); err != nil {
		run.Err = err
		return run
	}
	eve := filepath.Join(dir, "eve.json")
	out, err := exec.CommandContext(ctx, rampart, "inspect", "--rules", rules, "--config", config, "--eve", eve, pcap).CombinedOutput()
	if err != nil {
		run.Err = fmt.Errorf("rampart inspect: %v: %s", err, strings.TrimSpace(string(out)))
		return run
	}
	run.Err = run.readEVE(eve, targets)
	return run
}

// LabResults are the run's lines of the demo report.
func (r TTLResult) LabResults(scenario string) []lab.Result {
	if r.Err != nil {
		res := lab.Result{Scenario: scenario, Kind: lab.Defence, Tried: "TTL evasion through rampart's router"}
		inconclusive(&res, r.Err.Error())
		return []lab.Result{res}
	}
	n := len(r.Targets)
	what := fmt.Sprintf("TTL evasion: EVILCMD, and junk over it with a TTL of 1 (it expires at gw), sent to %d inside addresses, one per stream policy", n)
	out := []lab.Result{detectLine(scenario, r.Targets, &r.Detect, what, "rampart as gw's router, the IDS in line, detection mode: what expires at gw gets time exceeded and is never inspected as delivered")}
	naive := lab.Result{Scenario: scenario, Kind: lab.Proof,
		Tried:   "the same traffic, captured on the attacker's link, through rampart inspect with the targets' policies but no hop distances (a naive engine)",
		Defence: "target-based reassembly alone",
	}
	if r.Naive.Err != nil {
		inconclusive(&naive, r.Naive.Err.Error())
	} else {
		missed := r.Naive.Missed(r.Targets)
		naive.OK = len(missed) == n
		naive.Outcome = fmt.Sprintf("the alert missed %d of %d targets: it took the junk for delivered", len(missed), n)
	}
	out = append(out, naive)
	hops := detectLine(scenario, r.Targets, &r.Hops, "the capture through rampart inspect with ids.default.hops: 1 (gw between the capture and the inside)", "hop distances: the junk cannot reach")
	hops.Details = nil
	if r.Hops.Err == nil {
		events, with := 0, 0
		for _, n := range r.Hops.Evasions {
			events += n
			if n > 0 {
				with++
			}
		}
		hops.OK = hops.OK && with == n
		hops.Outcome += fmt.Sprintf("; %d stream.ttl_evasion events, for %d of %d targets", events, with, n)
	}
	out = append(out, hops)
	return append(out, preventLine(scenario, r.Targets, &r.Prevent, "the same, the IDS in prevention mode", "what cannot reach its destination is dropped, not inspected as delivered"))
}
