package classify

import (
	"fmt"

	"github.com/rampart-fw/rampart/firewall/policy"
)

// Decision is a classification with the reason for it, for "rampart fw
// test" and for logs.
type Decision struct {
	Action Action
	Dir    Direction
	// Index is the deciding rule's index in evaluation order (p.Rule(Index)),
	// or -1 when the default for Dir decided.
	Index    int
	Default  bool
	Implicit bool
	// Line is the rule's line in the policy file; 0 for implicit rules and
	// defaults.
	Line    int
	Text    string // the rule as written, or "default deny incoming"
	Comment string
	Log     policy.LogMode
	File    string
}

// Explain classifies k with c, which must have been built from p (by
// CompilePolicy, or FromPolicy and NewLinear), and says which rule or
// default decided.
func Explain(c Classifier, p *policy.Policy, k *Key) Decision {
	i, act := c.Lookup(k)
	d := Decision{Action: act, Dir: k.Dir, Index: i, File: p.Name}
	if i < 0 {
		d.Default = true
		d.Text = fmt.Sprintf("default %s %s", act, k.Dir)
		return d
	}
	r := p.Rule(i)
	if r == nil {
		d.Text = fmt.Sprintf("rule %d, which policy %s does not have", i, p.Name)
		return d
	}
	d.Implicit, d.Line, d.Text, d.Comment, d.Log = r.Implicit, r.Line, r.Text, r.Comment, r.Log
	return d
}

// String renders the decision for a person:
//
//	allow: policy.rules:12: allow in on wan to 203.0.113.10 port 443 proto tcp
//	allow: implicit rule: allow proto icmp type echo-request
//	deny: default deny incoming
//
// Rules are named by their line rather than a number, since Format numbers
// rows as ufw does (IPv4 rows first), which is not the evaluation order.
func (d Decision) String() string {
	switch {
	case d.Default:
		return fmt.Sprintf("%s: %s", d.Action, d.Text)
	case d.Implicit:
		return fmt.Sprintf("%s: implicit rule: %s", d.Action, d.Text)
	case d.Line == 0:
		return fmt.Sprintf("%s: %s", d.Action, d.Text)
	}
	return fmt.Sprintf("%s: %s:%d: %s", d.Action, d.File, d.Line, d.Text)
}
