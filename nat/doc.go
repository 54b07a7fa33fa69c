// Package nat owns network address translation as RFC 4787 (UDP), RFC
// 5382 (TCP) and RFC 5508 (ICMP) ask of it: which inside endpoint gets
// which public endpoint (endpoint-independent mappings, port preservation
// where the port is free, port parity, paired address pooling, a quota of
// mappings per inside host), which inbound packets a mapping admits (the
// filtering behaviour), port forwards with hairpinning, and the rewriting
// of packets in place with incremental checksums (RFC 1624), ICMP errors
// and the packet they quote included.
//
// It keeps no connections. The translation of a connection lives in its
// conntrack entry (conntrack.NAT, as Linux keeps it in nf_conn): one
// table, one lookup per packet, and the translation dies with the
// connection. A mapping is shared by the connections of one inside
// endpoint, each holding a reference (the entry's NAT.Ref) that the table
// hands back when the entry goes; the last one frees the mapping and its
// port. Expiry therefore costs the NAT nothing per packet: it is the
// table's, by its per-class deadline lists.
//
// The package does not know interfaces, routes or neighbours (the
// router's), nor the policy (the gateway's): it is told the side a packet
// came in on and decides nothing but the translation.
package nat
