package main

import (
	"strings"
	"testing"
)

func TestGeneratedPolicy(t *testing.T) {
	for _, n := range []int{3, 10, 100, 1000, 10000} {
		rules := generateRules(n, 1)
		if len(rules) != n {
			t.Fatalf("n=%d: %d rules", n, len(rules))
		}
		if err := checkPolicy(policyText(rules), n); err != nil {
			t.Errorf("n=%d: %v", n, err)
		}
	}
}

func TestGenerationIsStable(t *testing.T) {
	a, b := policyText(generateRules(1000, 1)), policyText(generateRules(1000, 1))
	if a != b {
		t.Fatal("two generations with one seed differ")
	}
	if a == policyText(generateRules(1000, 2)) {
		t.Fatal("seeds 1 and 2 give the same set")
	}
}

func TestNftText(t *testing.T) {
	rules := generateRules(1000, 1)
	nft := nftText(rules)
	// Rule lines sit between the two conntrack lines and the implicit ICMP
	// rules, one per rule, in the policy's order.
	lines := strings.Split(strings.TrimSpace(nft), "\n")
	body := lines[5 : 5+len(rules)]
	pol := strings.Split(strings.TrimSpace(policyText(rules)), "\n")[3:]
	for i, line := range body {
		line = strings.TrimSpace(line)
		wantVerb := " drop"
		if strings.HasPrefix(pol[i], "allow") {
			wantVerb = " accept"
		}
		if !strings.HasSuffix(line, wantVerb) {
			t.Fatalf("rule %d: %q for %q", i, line, pol[i])
		}
		wantIf := `iifname "wan"`
		if strings.Contains(pol[i], " out ") {
			wantIf = `iifname "lan"`
		}
		if !strings.HasPrefix(line, wantIf) {
			t.Fatalf("rule %d: %q for %q", i, line, pol[i])
		}
	}
	for _, c := range []struct{ name, want string }{
		{"conntrack first", "\t\tct state established,related accept\n\t\tct state invalid drop\n"},
		{"default drop", "policy drop;"},
		{"allow outgoing last", "\t\tiifname \"lan\" accept\n\t}\n}\n"},
		{"udp test rule", `iifname "wan" ip saddr 203.0.113.80 ip daddr 10.10.0.12 udp dport 5300 accept`},
		{"tcp test rule", `iifname "wan" ip saddr 203.0.113.80 ip daddr 10.10.0.12 tcp dport 5301-5308 accept`},
	} {
		if !strings.Contains(nft, c.want) {
			t.Errorf("%s: %q missing", c.name, c.want)
		}
	}
}

func TestPolicyTextShapes(t *testing.T) {
	pol := policyText(generateRules(3, 1))
	for _, want := range []string{
		"default deny incoming\ndefault allow outgoing\n",
		"allow proto udp from 203.0.113.80 to 10.10.0.12 port 5300\n",
		"allow proto tcp from 203.0.113.80 to 10.10.0.12 port 5301:5308\n",
		"allow proto tcp from 203.0.113.80 to 10.10.0.12 port 5201\n",
	} {
		if !strings.Contains(pol, want) {
			t.Errorf("%q missing from\n%s", want, pol)
		}
	}
}
