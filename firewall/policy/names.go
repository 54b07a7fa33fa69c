package policy

import (
	"strconv"

	"github.com/rampart-fw/rampart/ipproto"
)

// Protocol bits of a service; a port list carries their intersection.
const (
	protoTCP uint8 = 1 << iota
	protoUDP
	protoBoth = protoTCP | protoUDP
)

// services follows the IANA registry and Debian's netbase /etc/services,
// which ufw reads, so that "allow NAME" means the same in both. Where netbase
// lists a name for tcp and udp the service has both.
var services = map[string]struct {
	port  uint16
	proto uint8
}{
	"ftp":           {21, protoTCP},
	"ssh":           {22, protoTCP},
	"telnet":        {23, protoTCP},
	"smtp":          {25, protoTCP},
	"domain":        {53, protoBoth},
	"dns":           {53, protoBoth},
	"bootps":        {67, protoUDP},
	"dhcp":          {67, protoUDP}, // the server side, which a gateway runs
	"bootpc":        {68, protoUDP},
	"tftp":          {69, protoUDP},
	"http":          {80, protoTCP},
	"www":           {80, protoTCP},
	"kerberos":      {88, protoBoth},
	"pop3":          {110, protoTCP},
	"sunrpc":        {111, protoBoth},
	"ntp":           {123, protoUDP},
	"netbios-ns":    {137, protoUDP},
	"netbios-dgm":   {138, protoUDP},
	"netbios-ssn":   {139, protoTCP},
	"imap":          {143, protoTCP},
	"imap2":         {143, protoTCP},
	"snmp":          {161, protoUDP},
	"snmp-trap":     {162, protoUDP},
	"snmptrap":      {162, protoUDP},
	"bgp":           {179, protoTCP},
	"ldap":          {389, protoBoth},
	"https":         {443, protoBoth}, // netbase lists 443/udp for HTTP/3
	"smtps":         {465, protoTCP},
	"submissions":   {465, protoTCP},
	"isakmp":        {500, protoUDP},
	"syslog":        {514, protoUDP},
	"dhcpv6-client": {546, protoUDP},
	"dhcpv6-server": {547, protoUDP},
	"submission":    {587, protoTCP},
	"ldaps":         {636, protoTCP},
	"domain-s":      {853, protoBoth},
	"imaps":         {993, protoTCP},
	"pop3s":         {995, protoTCP},
	"openvpn":       {1194, protoBoth},
	"ms-sql-s":      {1433, protoTCP},
	"mssql":         {1433, protoTCP},
	"l2tp":          {1701, protoUDP},
	"pptp":          {1723, protoTCP},
	"radius":        {1812, protoUDP},
	"radius-acct":   {1813, protoUDP},
	"nfs":           {2049, protoBoth},
	"mysql":         {3306, protoTCP},
	"ms-wbt-server": {3389, protoTCP},
	"rdp":           {3389, protoTCP},
	"ipsec-nat-t":   {4500, protoUDP},
	"sip":           {5060, protoBoth},
	"xmpp-client":   {5222, protoTCP},
	"mdns":          {5353, protoUDP},
	"postgresql":    {5432, protoTCP},
	"postgres":      {5432, protoTCP},
	"vnc":           {5900, protoTCP},
	"redis":         {6379, protoTCP},
	"http-alt":      {8080, protoTCP},
	"git":           {9418, protoTCP},
	"wireguard":     {51820, protoUDP},
}

// LookupService returns the port and protocols of a well-known service name.
func LookupService(name string) (port uint16, tcp, udp, ok bool) {
	s, ok := services[name]
	return s.port, s.proto&protoTCP != 0, s.proto&protoUDP != 0, ok
}

var icmpTypes = map[string]uint8{
	"echo-reply":              0,
	"destination-unreachable": 3,
	"dest-unreach":            3,
	"unreachable":             3,
	"source-quench":           4,
	"redirect":                5,
	"echo-request":            8,
	"echo":                    8,
	"router-advertisement":    9,
	"router-solicitation":     10,
	"time-exceeded":           11,
	"ttl-exceeded":            11,
	"parameter-problem":       12,
	"timestamp-request":       13,
	"timestamp-reply":         14,
	"address-mask-request":    17,
	"address-mask-reply":      18,
}

var icmpv6Types = map[string]uint8{
	"destination-unreachable": 1,
	"dest-unreach":            1,
	"unreachable":             1,
	"packet-too-big":          2,
	"time-exceeded":           3,
	"parameter-problem":       4,
	"echo-request":            128,
	"echo":                    128,
	"echo-reply":              129,
	"mld-listener-query":      130,
	"mld-listener-report":     131,
	"mld-listener-done":       132,
	"router-solicitation":     133,
	"router-advertisement":    134,
	"neighbor-solicitation":   135,
	"neighbour-solicitation":  135,
	"neighbor-advertisement":  136,
	"neighbour-advertisement": 136,
	"redirect":                137,
	"mld2-listener-report":    143,
}

// canonical names for printing, the first of each group above.
var icmpTypeNames = map[uint8]string{
	0: "echo-reply", 3: "destination-unreachable", 4: "source-quench", 5: "redirect",
	8: "echo-request", 9: "router-advertisement", 10: "router-solicitation",
	11: "time-exceeded", 12: "parameter-problem", 13: "timestamp-request",
	14: "timestamp-reply", 17: "address-mask-request", 18: "address-mask-reply",
}

var icmpv6TypeNames = map[uint8]string{
	1: "destination-unreachable", 2: "packet-too-big", 3: "time-exceeded",
	4: "parameter-problem", 128: "echo-request", 129: "echo-reply",
	130: "mld-listener-query", 131: "mld-listener-report", 132: "mld-listener-done",
	133: "router-solicitation", 134: "router-advertisement",
	135: "neighbor-solicitation", 136: "neighbor-advertisement", 137: "redirect",
	143: "mld2-listener-report",
}

// ICMPTypeName returns the name of an ICMP (proto ipproto.ICMP) or ICMPv6
// (ipproto.ICMPv6) type, or its number when it has no name.
func ICMPTypeName(proto ipproto.Proto, typ uint8) string {
	names := icmpTypeNames
	if proto == ipproto.ICMPv6 {
		names = icmpv6TypeNames
	}
	if n, ok := names[typ]; ok {
		return n
	}
	return strconv.Itoa(int(typ))
}
