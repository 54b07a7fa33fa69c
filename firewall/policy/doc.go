// Package policy owns rampart's firewall rule language: a ufw-compatible
// syntax read from a file, parsed into a Policy value that carries the
// default actions, the named sets, the options and the rules in order with
// their line numbers and original text.
//
// # Language
//
// One statement per line; '#' starts a comment that runs to the end of the
// line. Set bodies may span lines.
//
//	default deny|allow|reject [incoming|outgoing|routed]
//	logging off|on|low|medium|high|full
//	icmp-echo allow|deny
//	set $name = { ELEM, ELEM, ... }
//	[route] allow|deny|reject|limit [in|out [on IFACE]] [log|log-all]
//	        [proto PROTO] [from ADDR [port PORTS]] [to ADDR [port PORTS]]
//	        [flags F/M] [type ICMPTYPE [code N]] [comment 'text']
//	allow|deny|reject|limit [in|out [on IFACE]] [log|log-all] PORTS[/tcp|/udp] [comment 'text']
//
// As in ufw, the keyword clauses of the extended form may come in any order
// ("allow in on wan to 203.0.113.10 port 443 proto tcp"), and "port" binds to
// the nearest preceding "from" or "to". The short form takes one port
// specification: a port, a range, a comma list or a service name, optionally
// followed by /tcp or /udp ("allow ssh", "allow 80,443/tcp", "deny 53"), or
// another protocol with ports ("allow 3868/sctp").
//
// PROTO is one of tcp, udp, icmp, icmpv6, esp, ah, gre, ipv6 (IPv6-in-IPv4,
// protocol 41, as in ufw), sctp, dccp, udplite or any. ADDR is any, an IPv4 or IPv6 address or
// prefix (host bits are masked off, as iptables does), or $set. PORTS is a
// port, a range lo:hi, a service name, a comma list of those (at most 15
// ports, a range counting as two, as in ufw and iptables' multiport), or a
// $set of ports.
//
// Ports follow ufw's rules: a single port without a protocol matches both
// TCP and UDP; a list or a range needs "proto tcp" or "proto udp" unless the
// named services in it settle the protocol (ssh is tcp, ntp is udp, dns is
// both); ports are refused with protocols that have none. Beyond ufw, sctp,
// dccp and udplite take ports too ("allow in on wan to 10.10.0.5 port 9899
// proto sctp"), by number: the services known here name TCP and UDP ports,
// which udplite shares (RFC 3828 5) and sctp and dccp do not.
//
// Extensions beyond ufw: named sets; TCP flag matches in pf's notation,
// "flags S/SAFR" meaning that of the flags in the mask SAFR exactly S must be
// set ("flags /SA" means neither S nor A, "flags S" means exactly S, "flags
// any" is no constraint; letters F S R P A U E W); ICMP type and code
// matches ("proto icmp type echo-request", "proto icmpv6 type 1 code 4");
// the options logging and icmp-echo.
//
// # Directions
//
// The gateway has an inside interface (lan) and an outside one (wan).
// Incoming traffic arrives from outside, whether bound for the inside or for
// the gateway, or is addressed to the gateway itself; outgoing traffic
// leaves towards the outside, from the inside or from the gateway; routed
// traffic is forwarded between two inside interfaces. A rule without in or
// out is an incoming rule, as in ufw. "in on IFACE" constrains the
// interface a packet arrived on, "out on IFACE" the one it leaves by. A
// route rule matches any forwarded packet (one that neither comes from nor
// goes to the gateway itself), whatever its direction, subject to its "in
// on" and "out on". Rules are evaluated in file order and the first match
// decides; when none matches, the default for the packet's direction
// applies.
//
// A limit rule passes a source until it opens its sixth connection within
// 30 seconds, ufw's numbers; the classifier reports Limit and
// classify.Limiter keeps the count.
//
// An address family is a property of a rule: "from any to any" covers IPv4
// and IPv6, a literal address or a set narrows the rule to the families it
// holds, icmp and ipv6 imply IPv4, icmpv6 implies IPv6. A rule whose from
// and to cannot share a family is an error.
//
// # Implicit rules
//
// Like ufw's before.rules, every policy carries rules that the file does not
// spell out. Two act before the rules and belong to connection tracking:
// packets of established or related connections pass, and packets that
// connection tracking finds invalid are dropped; the Policy records them as
// text in Before. The others are ordinary rules kept in Policy.Implicit and
// evaluated after the file's rules, in every direction: ICMP destination
// unreachable, time exceeded and parameter problem, ICMPv6 destination
// unreachable, packet too big, time exceeded and parameter problem, neighbour
// and router solicitation and advertisement, and ICMP and ICMPv6 echo
// request are allowed. Because they come after the file's rules, any rule
// that matches ICMP overrides them ("deny proto icmp from 198.51.100.0/24"
// works); "icmp-echo deny" removes the echo request rules altogether.
//
// # Errors
//
// Parse reports every problem it finds, up to a limit, in a srcpos.List,
// each as file:line:col: message, where the column counts bytes from 1. It
// never panics, whatever the input.
//
// The package refuses to know about packets, interfaces indices, connection
// state and rate state: it describes what the rules say, and
// firewall/classify turns them into something that decides.
package policy
