package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-fw/rampart/ipproto"
	"github.com/rampart-fw/rampart/srcpos"
)

// describe renders a rule compactly so that tables of expectations stay
// readable.
func describe(r *Rule) string {
	var b strings.Builder
	if r.Route {
		b.WriteString("route ")
	}
	fmt.Fprintf(&b, "%s %s", r.Action, r.Dir)
	if r.InIface != "" {
		fmt.Fprintf(&b, " in=%s", r.InIface)
	}
	if r.OutIface != "" {
		fmt.Fprintf(&b, " out=%s", r.OutIface)
	}
	if r.Log != LogNone {
		fmt.Fprintf(&b, " %s", r.Log)
	}
	fmt.Fprintf(&b, " %s %s", r.Family, protoName(r.Proto))
	side := func(name string, e *Endpoint) {
		if e.Addrs == nil && e.Ports == nil {
			return
		}
		fmt.Fprintf(&b, " %s", name)
		if e.AddrSet != "" {
			fmt.Fprintf(&b, " $%s", e.AddrSet)
		}
		if e.Addrs != nil {
			fmt.Fprintf(&b, " %v", e.Addrs)
		}
		if e.Ports != nil {
			fmt.Fprintf(&b, " port %v", e.Ports)
		}
	}
	side("from", &r.From)
	side("to", &r.To)
	if !r.Flags.Any() {
		fmt.Fprintf(&b, " flags %s", r.Flags)
	}
	if r.ICMPType != AnyICMP {
		fmt.Fprintf(&b, " type %d", r.ICMPType)
	}
	if r.ICMPCode != AnyICMP {
		fmt.Fprintf(&b, " code %d", r.ICMPCode)
	}
	if r.Comment != "" {
		fmt.Fprintf(&b, " comment %q", r.Comment)
	}
	return b.String()
}

func TestParseRules(t *testing.T) {
	const sets = "set $web = { 203.0.113.10, 203.0.113.11 }\n" +
		"set $webports = { 80, 443, 8000:8080 }\n" +
		"set $mixed = { 10.0.0.0/8, fd00::/8 }\n" +
		"set $mail = { smtp, submission, imaps }\n" +
		"set $all = { $web, 198.51.100.0/24 }\n"
	tests := []struct {
		src  string
		want string
	}{
		{"allow ssh", "allow incoming IPv4+IPv6 tcp to port [22]"},
		{"allow 22/tcp", "allow incoming IPv4+IPv6 tcp to port [22]"},
		{"allow 80,443/tcp", "allow incoming IPv4+IPv6 tcp to port [80 443]"},
		{"allow 6000:6007/udp", "allow incoming IPv4+IPv6 udp to port [6000:6007]"},
		{"deny 53", "deny incoming IPv4+IPv6 any to port [53]"},
		{"allow dns", "allow incoming IPv4+IPv6 any to port [53]"},
		{"allow ntp", "allow incoming IPv4+IPv6 udp to port [123]"},
		{"allow http,https", "allow incoming IPv4+IPv6 tcp to port [80 443]"},
		{"allow ssh,8000:8080", "allow incoming IPv4+IPv6 tcp to port [22 8000:8080]"},
		{"allow from 100.64.0.0/24", "allow incoming IPv4 any from [100.64.0.0/24]"},
		{"allow from 100.64.0.7/24", "allow incoming IPv4 any from [100.64.0.0/24]"},
		{"allow from 2001:db8::1", "allow incoming IPv6 any from [2001:db8::1/128]"},
		{"allow proto tcp from any to any port 80,443,8000:8080",
			"allow incoming IPv4+IPv6 tcp to port [80 443 8000:8080]"},
		{"allow in on wan to 203.0.113.10 port 443 proto tcp",
			"allow incoming in=wan IPv4 tcp to [203.0.113.10/32] port [443]"},
		{"allow to 203.0.113.10 port 443 proto tcp in on wan",
			"allow incoming in=wan IPv4 tcp to [203.0.113.10/32] port [443]"},
		{"allow out on wan to any port 53", "allow outgoing out=wan IPv4+IPv6 any to port [53]"},
		{"deny out 25/tcp", "deny outgoing IPv4+IPv6 tcp to port [25]"},
		{"allow in on lan", "allow incoming in=lan IPv4+IPv6 any"},
		{"route allow in on lan out on wan", "route allow routed in=lan out=wan IPv4+IPv6 any"},
		{"route deny out on wan in on lan proto udp", "route deny routed in=lan out=wan IPv4+IPv6 udp"},
		{"route allow in on lan to any port 80 proto tcp", "route allow routed in=lan IPv4+IPv6 tcp to port [80]"},
		{"allow log 22/tcp", "allow incoming log IPv4+IPv6 tcp to port [22]"},
		{"allow in on wan log-all proto tcp to any port 22", "allow incoming in=wan log-all IPv4+IPv6 tcp to port [22]"},
		{"limit ssh", "limit incoming IPv4+IPv6 tcp to port [22]"},
		{"reject auth", ""}, // error case in TestParseErrors; skipped here
		{"allow from any port 53 to any port 1024:65535 proto udp",
			"allow incoming IPv4+IPv6 udp from port [53] to port [1024:65535]"},
		{"allow from any port 53 to any port 53", "allow incoming IPv4+IPv6 any from port [53] to port [53]"},
		{"allow 80/tcp comment 'web server'", `allow incoming IPv4+IPv6 tcp to port [80] comment "web server"`},
		{`allow 80/tcp comment "it's # not a comment"`, `allow incoming IPv4+IPv6 tcp to port [80] comment "it's # not a comment"`},
		{"allow 80/tcp # a real comment", "allow incoming IPv4+IPv6 tcp to port [80]"},
		{"allow to $web port $webports proto tcp",
			"allow incoming IPv4 tcp to $web [203.0.113.10/32 203.0.113.11/32] port [80 443 8000:8080]"},
		{"allow to any port $mail", "allow incoming IPv4+IPv6 tcp to port [25 587 993]"},
		{"allow from $mixed to 192.0.2.1", "allow incoming IPv4 any from $mixed [10.0.0.0/8] to [192.0.2.1/32]"},
		{"allow from $mixed", "allow incoming IPv4+IPv6 any from $mixed [10.0.0.0/8 fd00::/8]"},
		{"allow from $all", "allow incoming IPv4 any from $all [203.0.113.10/32 203.0.113.11/32 198.51.100.0/24]"},
		{"allow proto tcp to any port 22 flags S/SAFR", "allow incoming IPv4+IPv6 tcp to port [22] flags S/FSRA"},
		{"allow ssh flags S/SA", "allow incoming IPv4+IPv6 tcp to port [22] flags S/SA"},
		{"deny proto tcp flags /SA", "deny incoming IPv4+IPv6 tcp flags /SA"},
		{"deny proto tcp flags FSRPAUEW", "deny incoming IPv4+IPv6 tcp flags FSRPAUEW/FSRPAUEW"},
		{"allow proto tcp flags any", "allow incoming IPv4+IPv6 tcp"},
		{"allow proto icmp type echo-request", "allow incoming IPv4 icmp type 8"},
		{"allow proto icmpv6 type echo-request", "allow incoming IPv6 icmpv6 type 128"},
		{"deny proto icmp type 3 code 4", "deny incoming IPv4 icmp type 3 code 4"},
		{"allow type packet-too-big proto icmpv6", "allow incoming IPv6 icmpv6 type 2"},
		{"allow proto esp from 198.51.100.1", "allow incoming IPv4 esp from [198.51.100.1/32]"},
		{"allow proto ipv6 from 198.51.100.1", "allow incoming IPv4 ipv6 from [198.51.100.1/32]"},
		{"allow proto gre", "allow incoming IPv4+IPv6 gre"},
		{"allow proto any from any", "allow incoming IPv4+IPv6 any"},
		{"allow from any to any", "allow incoming IPv4+IPv6 any"},
		{"allow 65535", "allow incoming IPv4+IPv6 any to port [65535]"},
	}
	for _, tt := range tests {
		if tt.want == "" {
			continue
		}
		t.Run(tt.src, func(t *testing.T) {
			p, err := Parse("t.rules", []byte(sets+tt.src+"\n"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(p.Rules) != 1 {
				t.Fatalf("got %d rules, want 1", len(p.Rules))
			}
			r := &p.Rules[0]
			if got := describe(r); got != tt.want {
				t.Errorf("rule:\n got %s\nwant %s", got, tt.want)
			}
			if r.Line != 6 || r.Col != 1 {
				t.Errorf("position %d:%d, want 6:1", r.Line, r.Col)
			}
			if wantText := strings.TrimSuffix(tt.src, " # a real comment"); r.Text != wantText {
				t.Errorf("Text %q, want %q", r.Text, wantText)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string // the first error
	}{
		{"allow shh", `t.rules:1:7: unknown service "shh"`},
		{"reject auth", `t.rules:1:8: unknown service "auth"`},
		{"allow 80,443", "t.rules:1:7: multiple ports or a range need proto tcp or udp (as in ufw): 80,443"},
		{"allow 8000:8080", "t.rules:1:7: multiple ports or a range need proto tcp or udp (as in ufw): 8000:8080"},
		{"allow proto tcp to any port 8080:80", "t.rules:1:29: impossible port range 8080:80: 8080 is above 80"},
		{"allow 0", "t.rules:1:7: port 0 is not a valid port"},
		{"allow 70000/tcp", "t.rules:1:7: port 70000 out of range 1-65535"},
		{"allow 99999999999999999999/tcp", "t.rules:1:7: port 99999999999999999999 out of range 1-65535"},
		{"allow 22,,23/tcp", `t.rules:1:10: empty port in list "22,,23"`},
		{"allow 22/icmp", "t.rules:1:10: ports need tcp, udp, udplite, sctp or dccp, not icmp"},
		{"allow 22/ospf", `t.rules:1:10: unknown protocol "ospf" after the port`},
		{"allow ntp/tcp", "t.rules:1:7: service ntp has no tcp port"},
		{"allow proto udp to any port 80,ssh", "t.rules:1:32: service ssh has no udp port"},
		{"allow ssh,ntp", `t.rules:1:7: the services in "ssh,ntp" share no protocol`},
		{"allow from any port ssh to any port ntp", "t.rules:1:37: the services on from and to share no protocol"},
		{"allow http:https/tcp", `t.rules:1:7: port ranges must be numeric: "http:https"`},
		{"allow 80:/tcp", `t.rules:1:7: incomplete port range "80:"`},
		{"allow 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16/tcp", `t.rules:1:43: too many ports in "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16": at most 15, a range counting as two`},
		{"allow proto tcp to any port 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16", `t.rules:1:62: too many ports in "1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16": at most 15, a range counting as two`},
		{"allow proto esp to any port 22", "t.rules:1:7: proto esp has no ports; ports need tcp, udp, udplite, sctp or dccp"},
		{"allow proto sctp to any port ssh", "t.rules:1:30: service ssh has no sctp port; give the port number"},
		{"allow proto dccp to any port 80,http", "t.rules:1:33: service http has no dccp port; give the port number"},
		{"allow proto udplite to any port ssh", "t.rules:1:33: service ssh has no udplite port"},
		{"allow proto ospf", `t.rules:1:13: unknown protocol "ospf" (want tcp, udp, icmp, icmpv6, esp, ah, gre, ipv6, sctp, dccp, udplite or any)`},
		{"allow from 10.0.0.0/8 to 2001:db8::1", "t.rules:1:26: from is IPv4 but to is IPv6: a rule cannot mix IPv4 and IPv6"},
		{"allow proto icmp from 2001:db8::/32", "t.rules:1:23: proto icmp needs IPv4 addresses, and 2001:db8::/32 is IPv6"},
		{"allow proto icmpv6 to 192.0.2.1", "t.rules:1:23: proto icmpv6 needs IPv6 addresses, and 192.0.2.1 is IPv4"},
		{"allow from 1.2.3.4/33", `t.rules:1:12: invalid address "1.2.3.4/33": prefix length out of range`},
		{"allow from 1.2.3", `t.rules:1:12: invalid address "1.2.3": IPv4 address too short`},
		{"allow from example.com", `t.rules:1:12: invalid address "example.com": unexpected character (at "example.com")`},
		{"allow from fe80::1%eth0", `t.rules:1:12: invalid address "fe80::1%eth0": zones are not allowed`},
		{"allow from ::ffff:1.2.3.4", `t.rules:1:12: IPv4-mapped IPv6 address "::ffff:1.2.3.4" never matches: packets carry plain IPv4, write that`},
		{"allow from $nope", "t.rules:1:12: unknown set $nope"},
		{"allow to any port $nope", "t.rules:1:19: unknown set $nope"},
		{"set $a = { 1.2.3.4 }\nallow to any port $a", "t.rules:2:19: set $a holds addresses, not ports"},
		{"set $p = { 80 }\nallow from $p", "t.rules:2:12: set $p holds ports, not addresses"},
		{"set $a = { 1.2.3.4 }\nset $a = { 1.2.3.5 }", "t.rules:2:5: duplicate set $a (first defined at line 1)"},
		{"set $m = { 1.2.3.4, 80 }", `t.rules:1:21: set $m mixes addresses and ports at "80"`},
		{"set $e = { }", "t.rules:1:5: set $e is empty"},
		{"set $e = { any }", "t.rules:1:12: any cannot be a set element; use any in the rule instead of the set"},
		{"set $s = { ssh, ntp }", "t.rules:1:5: the services in set $s share no protocol"},
		{"set $u = { 1.2.3.4\nallow ssh", `t.rules:1:5: set $u is not closed: "}" missing before line 2`},
		{"set $u = { 1.2.3.4", `t.rules:1:5: set $u is never closed with "}"`},
		{"set web = { 1.2.3.4 }", `t.rules:1:5: set needs a name like $web, not "web"`},
		{"set $w { 1.2.3.4 }", `t.rules:1:8: expected "=" after set $w, found "{"`},
		{"set $w = 1.2.3.4", `t.rules:1:10: expected "{" to open set $w, found "1.2.3.4"`},
		{"set $w = { 1.2.3.4 } x", `t.rules:1:22: unexpected "x" after set $w`},
		{"set $w = { $w }", "t.rules:1:12: unknown set $w"},
		{"allow 'x'", `t.rules:1:7: unexpected string "x": only comment takes a quoted string`},
		{"allow in on wan out on lan 22", `t.rules:1:17: a rule has one direction, and "in" came first; use a route rule for in and out`},
		{"allow in in 22", `t.rules:1:10: duplicate "in" (first at column 7)`},
		{"route allow in lan", `t.rules:1:13: route rules need "in on IFACE"`},
		{"route allow in on lan in on wan", `t.rules:1:23: duplicate "in" (first at column 13)`},
		{"route", "t.rules:1:1: route needs an action: allow, deny, reject or limit"},
		{"route permit", `t.rules:1:7: expected allow, deny, reject or limit, found "permit"`},
		{"allow on wan", `t.rules:1:7: "on" must follow "in" or "out"`},
		{"allow in on", "t.rules:1:10: on needs an interface name"},
		{"allow in on wan/0", `t.rules:1:13: invalid interface name "wan/0"`},
		{"allow in on averyveryverylongname", `t.rules:1:13: invalid interface name "averyveryverylongname"`},
		{"allow", "t.rules:1:1: incomplete rule: give a port or service, or from, to, proto or \"in on IFACE\""},
		{"allow in log", "t.rules:1:1: incomplete rule: give a port or service, or from, to, proto or \"in on IFACE\""},
		{"allow log log 22", `t.rules:1:11: duplicate "log" (first at column 7)`},
		{"allow proto tcp proto udp", `t.rules:1:17: duplicate "proto" (first at column 7)`},
		{"allow from any from any", `t.rules:1:16: duplicate "from" (first at column 7)`},
		{"allow port 22", `t.rules:1:7: port must follow "from ADDR" or "to ADDR"`},
		{"allow to any port 22 port 23", `t.rules:1:22: duplicate port for "to" (first at column 19)`},
		{"allow to any port", "t.rules:1:14: port needs a port, a list, a range, a service or a $set"},
		{"allow from", "t.rules:1:7: from needs an address, any or a $set"},
		{"allow 22 from 1.2.3.4", `t.rules:1:10: from cannot follow the short form "22"; write "to any port 22"`},
		{"allow 22 proto tcp", `t.rules:1:10: proto cannot follow the short form "22"; write "to any port 22 proto ..." or 22/tcp`},
		{"allow 22 23", `t.rules:1:10: unexpected "23" after the port "22"`},
		{"allow proto tcp 22", `t.rules:1:17: unexpected "22": after "proto", ports go in "port ..." after from or to`},
		{"allow $web", `t.rules:1:7: the short form takes ports, not a set; write "to any port $web"`},
		{"allow flags S/SA", "t.rules:1:7: flags need proto tcp"},
		{"allow proto udp flags S/SA", "t.rules:1:17: flags need proto tcp"},
		{"allow proto tcp flags X/SA", `t.rules:1:23: unknown TCP flag "X" (want letters of FSRPAUEW)`},
		{"allow proto tcp flags S/AX", `t.rules:1:26: unknown TCP flag "X" (want letters of FSRPAUEW)`},
		{"allow proto tcp flags S/A", "t.rules:1:23: flags S/A can never match: S is outside the mask A"},
		{"allow proto tcp flags S/", `t.rules:1:25: empty flag mask in "S/"`},
		{"allow proto tcp flags", "t.rules:1:17: flags needs TCP flags like S/SA"},
		{"allow type echo-request", "t.rules:1:12: an ICMP type needs proto icmp or icmpv6"},
		{"allow proto icmp type packet-too-big", `t.rules:1:23: unknown icmp type "packet-too-big"`},
		{"allow proto icmp type 256", `t.rules:1:23: unknown icmp type "256"`},
		{"allow proto icmp type 3 code x", `t.rules:1:30: ICMP code must be a number from 0 to 255, not "x"`},
		{"allow proto icmp code 3", `t.rules:1:18: code must follow "type TYPE"`},
		{"allow proto icmp type 3 type 4", `t.rules:1:25: duplicate "type" (first at column 18)`},
		{"allow app OpenSSH", "t.rules:1:7: application profiles are not supported; name the ports or a service"},
		{"allow 22 comment", "t.rules:1:10: comment needs a text, like comment 'web server'"},
		{"allow 22 comment 'a' comment 'b'", `t.rules:1:22: duplicate "comment" (first at column 10)`},
		{"allow 22 comment '" + strings.Repeat("x", 300) + "'", "t.rules:1:18: comment is 300 bytes, more than 256"},
		{"allow 22 comment '\xff'", "t.rules:1:18: comment is not valid UTF-8"},
		{"allow 22 comment 'unterminated", "t.rules:1:18: unterminated string"},
		{"allow 22 { }", `t.rules:1:10: unexpected "{" in rule`},
		{"allow\x01 22", `t.rules:1:6: invalid character '\x01'`},
		{"permit 22", `t.rules:1:1: unknown statement "permit" (want default, logging, icmp-echo, set, route, allow, deny, reject or limit)`},
		{"{", `t.rules:1:1: unexpected "{" at the start of a statement`},
		{"default", "t.rules:1:1: default needs an action: allow, deny or reject"},
		{"default limit incoming", `t.rules:1:9: default action must be allow, deny or reject, not "limit"`},
		{"default deny sideways", `t.rules:1:14: default direction must be incoming, outgoing or routed, not "sideways"`},
		{"default deny incoming now", `t.rules:1:23: unexpected "now" after default`},
		{"default deny\ndefault allow incoming", "t.rules:2:1: default for incoming already set at line 1"},
		{"logging", "t.rules:1:1: logging needs a level: off, on, low, medium, high or full"},
		{"logging loud", `t.rules:1:9: logging level must be off, on, low, medium, high or full, not "loud"`},
		{"logging on off", `t.rules:1:12: unexpected "off" after logging level`},
		{"logging on\nlogging off", "t.rules:2:1: logging already set at line 1"},
		{"icmp-echo maybe", `t.rules:1:11: icmp-echo must be allow or deny, not "maybe"`},
		{"icmp-echo", "t.rules:1:1: icmp-echo needs allow or deny"},
		{"icmp-echo deny\nicmp-echo allow", "t.rules:2:1: icmp-echo already set at line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Parse("t.rules", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded with %d rules, want error %q", len(p.Rules), tt.want)
			}
			var list srcpos.List
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty srcpos.List", err)
			}
			if got := list[0].Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			var e *srcpos.Error
			if !errors.As(err, &e) {
				t.Errorf("errors.As(*srcpos.Error) failed")
			}
		})
	}
}

func TestParseCollectsErrors(t *testing.T) {
	src := "allow shh\nallow 22/tcp\ndeny 0\nset $x = {\n 1.2.3.4,\n 80 }\nallow from $x\n"
	_, err := Parse("multi.rules", []byte(src))
	want := "multi.rules:1:7: unknown service \"shh\"\n" +
		"multi.rules:3:6: port 0 is not a valid port\n" +
		"multi.rules:6:2: set $x mixes addresses and ports at \"80\"\n" +
		"multi.rules:7:12: unknown set $x"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}

	var many strings.Builder
	for i := 0; i < 100; i++ {
		many.WriteString("allow shh\n")
	}
	_, err = Parse("many.rules", []byte(many.String()))
	var list srcpos.List
	if !errors.As(err, &list) || len(list) != MaxErrors+1 {
		t.Fatalf("got %d errors, want %d", len(list), MaxErrors+1)
	}
	if last := list[len(list)-1].Msg; last != "too many errors, stopping" {
		t.Errorf("last error %q", last)
	}
}

func TestParseDefaultsAndOptions(t *testing.T) {
	tests := []struct {
		src      string
		defaults [NumDirections]Action
		logging  LogLevel
		echo     Action
		implicit int
	}{
		{"", [NumDirections]Action{Deny, Allow, Deny}, LoggingLow, Allow, 13},
		{"# only a comment\n\n   \n", [NumDirections]Action{Deny, Allow, Deny}, LoggingLow, Allow, 13},
		{"default allow", [NumDirections]Action{Allow, Allow, Deny}, LoggingLow, Allow, 13},
		{"default reject outgoing\ndefault allow routed\r\ndefault deny in",
			[NumDirections]Action{Deny, Reject, Allow}, LoggingLow, Allow, 13},
		{"logging off\nicmp-echo deny", [NumDirections]Action{Deny, Allow, Deny}, LoggingOff, Deny, 11},
		{"logging full", [NumDirections]Action{Deny, Allow, Deny}, LoggingFull, Allow, 13},
		{"logging on", [NumDirections]Action{Deny, Allow, Deny}, LoggingLow, Allow, 13},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Parse("t.rules", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if p.Defaults != tt.defaults || p.Logging != tt.logging || p.ICMPEcho != tt.echo {
				t.Errorf("got defaults %v logging %v echo %v", p.Defaults, p.Logging, p.ICMPEcho)
			}
			if len(p.Implicit) != tt.implicit {
				t.Errorf("got %d implicit rules, want %d", len(p.Implicit), tt.implicit)
			}
			if len(p.Rules) != 0 || len(p.Before) != 2 {
				t.Errorf("rules %d before %d", len(p.Rules), len(p.Before))
			}
		})
	}
}

func TestImplicitRules(t *testing.T) {
	p, err := Parse("t.rules", []byte("allow ssh\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.NumRules() != 1+len(p.Implicit) {
		t.Fatalf("NumRules %d", p.NumRules())
	}
	if r := p.Rule(0); r == nil || r.Text != "allow ssh" {
		t.Errorf("Rule(0) = %+v", r)
	}
	if p.Rule(-1) != nil || p.Rule(p.NumRules()) != nil {
		t.Error("out-of-range Rule not nil")
	}
	var echo4, echo6, ptb bool
	for i := range p.Implicit {
		r := &p.Implicit[i]
		if !r.Implicit || r.Action != Allow || r.Line != 0 {
			t.Errorf("implicit rule %q: %+v", r.Text, r)
		}
		echo4 = echo4 || r.Proto == ipproto.ICMP && r.ICMPType == 8
		echo6 = echo6 || r.Proto == ipproto.ICMPv6 && r.ICMPType == 128
		ptb = ptb || r.Proto == ipproto.ICMPv6 && r.ICMPType == 2
	}
	if !echo4 || !echo6 || !ptb {
		t.Errorf("missing implicit rules: echo4 %v echo6 %v ptb %v", echo4, echo6, ptb)
	}
	if got := p.Rule(1).Text; got != "allow proto icmp type destination-unreachable" {
		t.Errorf("first implicit rule %q", got)
	}
}

func TestParseSets(t *testing.T) {
	src := `
set $web = {
	203.0.113.10,   # first
	203.0.113.11,
}
set $ports = { 80,443, 8000:8080 ,ssh }
set $both = { $web, 2001:db8::/48 }
`
	p, err := Parse("sets.rules", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sets) != 3 {
		t.Fatalf("got %d sets", len(p.Sets))
	}
	web := p.Set("web")
	if web == nil || web.Kind != AddrSet || web.Line != 2 || len(web.Addrs) != 2 || web.Family != FamilyIPv4 {
		t.Errorf("web = %+v", web)
	}
	ports := p.Set("ports")
	want := []PortRange{{80, 80}, {443, 443}, {8000, 8080}, {22, 22}}
	if ports == nil || ports.Kind != PortSet || fmt.Sprint(ports.Ports) != fmt.Sprint(want) {
		t.Errorf("ports = %+v", ports)
	}
	both := p.Set("both")
	if both == nil || both.Family != FamilyBoth || len(both.Addrs) != 3 ||
		both.Addrs[2] != netip.MustParsePrefix("2001:db8::/48") {
		t.Errorf("both = %+v", both)
	}
	if p.Set("nope") != nil {
		t.Error("Set(nope) not nil")
	}
}

func TestParseLimits(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	if _, err := Parse("big.rules", big); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("oversized file: %v", err)
	}
	var b strings.Builder
	b.WriteString("set $big = { ")
	for i := 0; i <= MaxSetElements; i++ {
		fmt.Fprintf(&b, "%d, ", i%65535+1)
	}
	b.WriteString("}\n")
	if _, err := Parse("set.rules", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than 65536 elements") {
		t.Errorf("oversized set: %v", err)
	}
}

func TestParseElementBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("set $big = { ")
	for i := 0; i < MaxSetElements; i++ {
		fmt.Fprintf(&b, "10.%d.%d.0/24, ", i>>8, i&255)
	}
	b.WriteString("}\n")
	// The set counts once for its definition and again at each use.
	uses := MaxElements/MaxSetElements - 1
	for i := 0; i < uses; i++ {
		b.WriteString("allow from $big\n")
	}
	if _, err := Parse("budget.rules", []byte(b.String())); err != nil {
		t.Fatalf("within budget: %v", err)
	}
	b.WriteString("allow from $big\n")
	_, err := Parse("budget.rules", []byte(b.String()))
	want := fmt.Sprintf("budget.rules:%d:1: the policy holds more than %d addresses and ports in total (a set counts again at each use)", uses+2, MaxElements)
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestParseManyRules(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "allow from 10.%d.%d.0/24 to any port %d proto tcp\n", i/256, i%256, i%65535+1)
	}
	p, err := Parse("many.rules", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 2000 || p.Rules[1999].Line != 2000 {
		t.Errorf("got %d rules", len(p.Rules))
	}
}

func BenchmarkParse(b *testing.B) {
	var src strings.Builder
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&src, "allow in on wan proto tcp from 10.%d.%d.0/24 port 1024:65535 to 203.0.113.%d port %d comment 'rule %d'\n",
			i>>8&255, i&255, i%256, i%65535+1, i)
	}
	b.SetBytes(int64(src.Len()))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse("bench.rules", []byte(src.String())); err != nil {
			b.Fatal(err)
		}
	}
}
