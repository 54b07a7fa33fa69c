package classify

import "github.com/rampart-fw/rampart/firewall/policy"

// Linear tries the rules in order: the reference the compiled classifier is
// checked against, and a fair choice for a handful of rules.
type Linear struct {
	rules    []Rule
	defaults Defaults
}

// NewLinear checks the rules and returns a classifier over a copy of them.
func NewLinear(rules []Rule, defaults Defaults) (*Linear, error) {
	l := &Linear{rules: make([]Rule, len(rules)), defaults: defaults}
	for i := range rules {
		r, err := normalize(i, &rules[i])
		if err != nil {
			return nil, err
		}
		l.rules[i] = r
	}
	return l, nil
}

// Lookup implements Classifier.
func (l *Linear) Lookup(k *Key) (int, Action) {
	if k.Dir >= policy.NumDirections {
		return -1, Deny
	}
	src, dst, fam := family(k)
	if fam < 0 {
		return -1, l.defaults[k.Dir]
	}
	for i := range l.rules {
		if l.rules[i].match(k, src, dst) {
			return i, l.rules[i].Action
		}
	}
	return -1, l.defaults[k.Dir]
}
