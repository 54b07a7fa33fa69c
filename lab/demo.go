package lab

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what a line of the report checks, and so what its expected
// outcome is.
type Kind uint8

const (
	// Check is traffic or a service that must work (an echo crosses the
	// gateway, a lookup resolves). The zero value.
	Check Kind = iota
	// Defence is an attack that a defence must stop. Only these count in
	// the summary's "N of M defences held".
	Defence
	// Proof is an attack against a target weakened on purpose, which must
	// succeed: it shows that the attack the defences stop is real.
	Proof
)

// Result is one line of the demo report: what a scenario tried, what
// defended (or simply carried the traffic), and what came of it.
type Result struct {
	Scenario string
	Kind     Kind
	Tried    string
	Defence  string
	Outcome  string
	// OK says the outcome was the expected one: for a Check that the
	// traffic passed, for a Defence that the attack was stopped, for a
	// Proof that the attack worked.
	OK bool
	// Inconclusive says the run could not tell: its final check failed
	// for a reason of its own (the target was gone, the check timed
	// out). Such a line is never OK; Outcome says why.
	Inconclusive bool
	// Collateral is what a stopped attack still broke: legitimate names
	// that stopped resolving, traffic that no longer passes. A Defence
	// with collateral damage does not count as held. Outcome must say it
	// too: a line never reads "not poisoned" alone when a legitimate name
	// failed.
	Collateral string
	Details    []string
}

// Held reports whether the line is a defence that stopped its attack
// without collateral damage.
func (r *Result) Held() bool {
	return r.Kind == Defence && r.OK && !r.Inconclusive && r.Collateral == ""
}

func (r *Result) verdict() string {
	switch {
	case r.Inconclusive:
		return "INCONCLUSIVE"
	case r.OK:
		return "ok"
	}
	return "FAILED"
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

// ReportWidth is the width, in columns, that the report fits in.
const ReportWidth = 100

// reportLegend opens the report: what the verdicts mean.
const reportLegend = `"ok" means the outcome was the expected one: traffic that must pass passed, or an attack was ` +
	`stopped, or, against a target weakened on purpose (marked "expected: the attack works"), the ` +
	`attack worked, which shows that the attack the real defences stop is real. FAILED means the ` +
	`outcome was not the expected one; INCONCLUSIVE means the run could not tell (its final check ` +
	`failed for a reason of its own). A defence counts as held only when the attack got nothing: one ` +
	`that stopped the attack but broke legitimate traffic on the way (collateral damage) is counted ` +
	`as not held.`

// WriteReport prints the results, one block per scenario, each line
// wrapped to ReportWidth columns, and a summary, and returns whether every
// outcome was the expected one.
func WriteReport(w io.Writer, results []Result) bool {
	rw := reportWriter{w: w}
	rw.paragraph("", rw.wrap(reportLegend, ReportWidth))
	vw := 0
	for i := range results {
		vw = max(vw, len(results[i].verdict()))
	}
	// The verdict column: "#n " and the verdict, then the text.
	indent := 2 + len("#99 ") + vw + 2
	scenario, n := "", 0
	for i := range results {
		r := &results[i]
		if r.Scenario != scenario || i == 0 {
			scenario, n = r.Scenario, 0
			rw.line("")
			rw.line(r.Scenario)
		}
		n++
		head := fmt.Sprintf("  %-4s%-*s", fmt.Sprintf("#%d", n), vw+2, r.verdict())
		body := ReportWidth - indent
		for j, l := range rw.wrap(r.Tried, body) {
			if j == 0 {
				rw.line(head + l)
			} else {
				rw.line(strings.Repeat(" ", indent) + l)
			}
		}
		pad := strings.Repeat(" ", indent)
		if r.Defence != "" && r.Defence != "-" {
			label := "defence"
			if r.Kind == Check {
				label = "via"
			}
			rw.field(pad, label, r.Defence)
		}
		if r.Kind == Proof {
			rw.field(pad, "expected", "the attack works: this target is weakened on purpose")
		}
		rw.field(pad, "outcome", r.Outcome)
		for j, d := range r.Details {
			label := ""
			if j == 0 {
				label = "details"
			}
			rw.field(pad, label, d)
		}
	}
	rw.line("")
	ok := rw.summary(results)
	return ok
}

// reportWriter wraps the report's lines.
type reportWriter struct{ w io.Writer }

func (rw reportWriter) line(s string) { fmt.Fprintln(rw.w, strings.TrimRight(s, " ")) }

func (rw reportWriter) paragraph(pad string, lines []string) {
	for _, l := range lines {
		rw.line(pad + l)
	}
}

// labelWidth aligns the values of a line's fields.
const labelWidth = len("expected") + 2

// field prints "label  value", the value wrapped under itself.
func (rw reportWriter) field(pad, label, value string) {
	lines := rw.wrap(value, ReportWidth-len(pad)-labelWidth)
	for j, l := range lines {
		if j == 0 {
			rw.line(fmt.Sprintf("%s%-*s%s", pad, labelWidth, label, l))
		} else {
			rw.line(pad + strings.Repeat(" ", labelWidth) + l)
		}
	}
}

// wrap breaks s into lines of at most width columns at spaces, and breaks
// words longer than a line (paths, long error texts) where they must.
func (reportWriter) wrap(s string, width int) []string {
	width = max(width, 20)
	var lines []string
	cur, curLen := "", 0
	for _, word := range strings.Fields(s) {
		for n := utf8.RuneCountInString(word); n > width; n = utf8.RuneCountInString(word) {
			if curLen > 0 {
				lines = append(lines, cur)
				cur, curLen = "", 0
			}
			head, tail := splitRunes(word, width)
			lines = append(lines, head)
			word = tail
		}
		n := utf8.RuneCountInString(word)
		switch {
		case curLen == 0:
			cur, curLen = word, n
		case curLen+1+n <= width:
			cur, curLen = cur+" "+word, curLen+1+n
		default:
			lines = append(lines, cur)
			cur, curLen = word, n
		}
	}
	if curLen > 0 || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

func splitRunes(s string, n int) (string, string) {
	i := 0
	for j := range s {
		if i == n {
			return s[:j], s[j:]
		}
		i++
	}
	return s, ""
}

// summary prints how many defences held, which did not and why, and how
// many outcomes were the expected ones; it returns whether all were.
func (rw reportWriter) summary(results []Result) bool {
	var defences, held, proofs, worked, checks, passed, expected int
	var notHeld, unexpected []string
	scenario, n := "", 0
	for i := range results {
		r := &results[i]
		if r.Scenario != scenario || i == 0 {
			scenario, n = r.Scenario, 0
		}
		n++
		ref := fmt.Sprintf("%s #%d", r.Scenario, n)
		if r.OK && !r.Inconclusive {
			expected++
		} else {
			unexpected = append(unexpected, ref+": "+r.verdict())
		}
		switch r.Kind {
		case Defence:
			defences++
			switch {
			case r.Held():
				held++
			case r.Inconclusive:
				notHeld = append(notHeld, fmt.Sprintf("%s, %s: inconclusive", ref, r.Defence))
			case !r.OK:
				notHeld = append(notHeld, fmt.Sprintf("%s, %s: the attack worked: %s", ref, r.Defence, r.Outcome))
			default:
				notHeld = append(notHeld, fmt.Sprintf("%s, %s: held only partly: the attack was stopped, but %s", ref, r.Defence, r.Collateral))
			}
		case Proof:
			proofs++
			if r.OK && !r.Inconclusive {
				worked++
			}
		default:
			checks++
			if r.OK && !r.Inconclusive {
				passed++
			}
		}
	}
	head := fmt.Sprintf("Summary: %d of %d defences held", held, defences)
	if len(notHeld) > 0 {
		head += "; not held:"
	} else {
		head += "."
	}
	rw.paragraph("", rw.wrap(head, ReportWidth))
	rw.list(notHeld)
	tail := fmt.Sprintf("%d of %d checks of traffic that must pass passed; %d of %d attacks that must work (on targets weakened on purpose) worked.",
		passed, checks, worked, proofs)
	if len(unexpected) == 0 {
		tail += fmt.Sprintf(" Every outcome (%d of %d) was the expected one.", expected, len(results))
	} else {
		tail += fmt.Sprintf(" %d of %d outcomes were the expected ones; not:", expected, len(results))
	}
	rw.paragraph("", rw.wrap(tail, ReportWidth))
	rw.list(unexpected)
	return len(unexpected) == 0
}

// list prints items as a bulleted list, each wrapped under itself.
func (rw reportWriter) list(items []string) {
	for _, s := range items {
		lines := rw.wrap(s, ReportWidth-4)
		rw.line("  - " + lines[0])
		rw.paragraph("    ", lines[1:])
	}
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
