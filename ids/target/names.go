package target

import (
	"fmt"
	"strings"
)

// Names are the names of one engine's policies, in the order of their
// values: the text forms of its policy type (configuration files, EVE).
type Names[P ~uint8] struct {
	what  string // "defrag policy"
	names []string
	want  string // "drop, first ... or solaris"
}

// NewNames returns the names of the policies of the values 0, 1, ... in
// turn; what names the kind of policy in errors.
func NewNames[P ~uint8](what string, names ...string) Names[P] {
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	return Names[P]{what: what, names: names, want: want}
}

// String returns the name of p, or "policy(N)" for a value without one.
func (n Names[P]) String(p P) string {
	if int(p) < len(n.names) {
		return n.names[p]
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// Parse returns the policy named s.
func (n Names[P]) Parse(s string) (P, error) {
	for i, name := range n.names {
		if s == name {
			return P(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q (want %s)", n.what, s, n.want)
}

// Marshal returns the name of p as text, an error for a value without one.
func (n Names[P]) Marshal(p P) ([]byte, error) {
	if int(p) >= len(n.names) {
		return nil, fmt.Errorf("invalid %s %d", n.what, uint8(p))
	}
	return []byte(n.names[p]), nil
}

// Unmarshal sets *p to the policy named by the text b.
func (n Names[P]) Unmarshal(b []byte, p *P) error {
	v, err := n.Parse(string(b))
	if err == nil {
		*p = v
	}
	return err
}
