package lab

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one line of the demo report: what a scenario tried, what
// defended (or simply carried the traffic), and what came of it.
type Result struct {
	Scenario string
	Tried    string
	Defence  string
	Outcome  string
	OK       bool
	Details  []string
}

// Scenario is one part of the demo. Run must stop by itself within its own
// bounds and must not leave anything running; the lab's Down cleans up
// after a scenario that fails halfway.
type Scenario struct {
	Name string
	Run  func(ctx context.Context, l *Lab, env *Env) []Result
}

// Env is what scenarios share: where to put captures and logs, and where to
// print progress.
type Env struct {
	Dir      string // captures and logs of this demo run
	Progress io.Writer
	// Rampart is the path of the rampart binary that scenarios run inside
	// lab hosts (servers, the resolver, the gateway).
	Rampart string
}

// Logf prints a progress line.
func (e *Env) Logf(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, "  "+format+"\n", args...)
	}
}

// WriteReport prints the results as a table and returns whether every one
// of them is OK.
func WriteReport(w io.Writer, results []Result) bool {
	ok := true
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTRIED\tDEFENCE\tOUTCOME\tRESULT")
	for _, r := range results {
		verdict := "ok"
		if !r.OK {
			verdict = "FAILED"
			ok = false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Tried, r.Defence, r.Outcome, verdict)
	}
	tw.Flush()
	for _, r := range results {
		if len(r.Details) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s — %s:\n", r.Scenario, r.Tried)
		for _, d := range r.Details {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	return ok
}

// RunDemo brings the topology up, runs the scenarios in order, writes the
// report, and tears everything down, also when ctx is cancelled halfway.
// It returns false when a scenario failed.
func RunDemo(ctx context.Context, t *Topology, scenarios []Scenario, env *Env, out io.Writer) (bool, error) {
	start := time.Now()
	l, err := New(t, nil)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "Bringing up lab %s ...\n", l.Prefix)
	if err := l.Up(ctx); err != nil {
		return false, err
	}
	defer l.Down()
	fmt.Fprintf(out, "Lab %s is up (%s):\n\n%s\n", l.Prefix, time.Since(start).Round(time.Millisecond), indent(t.Table(l.Prefix)))
	var results []Result
	for _, s := range scenarios {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("demo interrupted: %w", err)
		}
		fmt.Fprintf(out, "Scenario %s\n", s.Name)
		results = append(results, s.Run(ctx, l, env)...)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("demo interrupted: %w", err)
	}
	fmt.Fprintln(out, "\nReport")
	ok := WriteReport(out, results)
	if err := l.Down(); err != nil {
		return false, err
	}
	fmt.Fprintf(out, "\nLab %s removed; the demo took %s.\n", l.Prefix, time.Since(start).Round(time.Millisecond))
	return ok, nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
