package packet

import (
	"strconv"
	"strings"
)

// Invalid is the reason a frame could not be decoded completely. Decoding
// stops at the first malformation, so only one reason is reported.
type Invalid uint8

// Reasons a frame is invalid. The zero value means the frame is well formed
// as far as this package decodes it.
const (
	Valid                    Invalid = iota
	InvalidEthernetTruncated         // shorter than an Ethernet II header
	InvalidVLANTruncated             // a VLAN tag runs past the frame
	InvalidVLANTooMany               // more than two stacked VLAN tags
	InvalidARPTruncated              // shorter than an Ethernet/IPv4 ARP message
	InvalidARPFormat                 // ARP for other than Ethernet/IPv4, or wrong address sizes
	InvalidIPVersion                 // IP version nibble is not 4 or 6, or disagrees with the EtherType
	InvalidIPv4Truncated             // shorter than a 20-byte IPv4 header
	InvalidIPv4HeaderLen             // IHL below 5 or beyond the packet
	InvalidIPv4Options               // an IPv4 option with a bad length
	InvalidIPTotalLen                // IP length field shorter than the header it describes
	InvalidIPTruncated               // frame shorter than the IP length field says
	InvalidIPv6Truncated             // shorter than a 40-byte IPv6 header
	InvalidIPv6ExtTruncated          // an IPv6 extension header runs past the packet
	InvalidIPv6ExtTooMany            // more than MaxIPv6ExtHeaders extension headers
	InvalidIPv6ExtOrder              // Hop-by-Hop not first, or a repeated Routing/Fragment header
	InvalidFragmentOverflow          // fragment would end past 65535 bytes (ping of death)
	InvalidFragmentSize              // a non-last fragment whose length is not a multiple of 8
	InvalidTinyFragment              // first fragment too short to hold the transport header
	InvalidTCPTruncated              // shorter than a 20-byte TCP header
	InvalidTCPDataOffset             // TCP data offset below 5 or beyond the segment
	InvalidTCPOptions                // TCP option with a bad length, or running past the header
	InvalidUDPTruncated              // shorter than an 8-byte UDP header
	InvalidUDPLength                 // UDP length below 8 or beyond the IP payload
	InvalidICMPTruncated             // shorter than an 8-byte ICMP header
	InvalidICMPQuote                 // an ICMP error whose quoted IP header is malformed
	InvalidUDPLiteCoverage           // UDP-Lite checksum coverage of 1 to 7, or beyond the datagram (RFC 3828 3.1)
	InvalidSCTPTruncated             // shorter than the 12-byte SCTP common header
	InvalidSCTPChunk                 // no chunk, or a chunk shorter than its header, running past the packet, or an INIT/INIT ACK too short for its fixed part
	InvalidDCCPTruncated             // shorter than the DCCP generic header and the subheader its type requires
	InvalidDCCPHeader                // DCCP reserved type, short sequence numbers on a type that forbids them, data offset outside the packet, or checksum coverage beyond it (RFC 4340 5.1, 9.2)
	numInvalid
)

var invalidNames = [numInvalid]string{
	Valid:                    "valid",
	InvalidEthernetTruncated: "ethernet-truncated",
	InvalidVLANTruncated:     "vlan-truncated",
	InvalidVLANTooMany:       "vlan-too-many",
	InvalidARPTruncated:      "arp-truncated",
	InvalidARPFormat:         "arp-format",
	InvalidIPVersion:         "ip-version",
	InvalidIPv4Truncated:     "ipv4-truncated",
	InvalidIPv4HeaderLen:     "ipv4-header-length",
	InvalidIPv4Options:       "ipv4-options",
	InvalidIPTotalLen:        "ip-total-length",
	InvalidIPTruncated:       "ip-truncated",
	InvalidIPv6Truncated:     "ipv6-truncated",
	InvalidIPv6ExtTruncated:  "ipv6-ext-truncated",
	InvalidIPv6ExtTooMany:    "ipv6-ext-too-many",
	InvalidIPv6ExtOrder:      "ipv6-ext-order",
	InvalidFragmentOverflow:  "fragment-overflow",
	InvalidFragmentSize:      "fragment-size",
	InvalidTinyFragment:      "tiny-fragment",
	InvalidTCPTruncated:      "tcp-truncated",
	InvalidTCPDataOffset:     "tcp-data-offset",
	InvalidTCPOptions:        "tcp-options",
	InvalidUDPTruncated:      "udp-truncated",
	InvalidUDPLength:         "udp-length",
	InvalidICMPTruncated:     "icmp-truncated",
	InvalidICMPQuote:         "icmp-quote",
	InvalidUDPLiteCoverage:   "udplite-coverage",
	InvalidSCTPTruncated:     "sctp-truncated",
	InvalidSCTPChunk:         "sctp-chunk",
	InvalidDCCPTruncated:     "dccp-truncated",
	InvalidDCCPHeader:        "dccp-header",
}

// String returns a short stable name, suitable as a metric label.
func (r Invalid) String() string {
	if r < numInvalid {
		return invalidNames[r]
	}
	return "invalid(" + strconv.Itoa(int(r)) + ")"
}

// DecodeError describes why and where decoding stopped. Offset counts from
// the start of the decoded buffer and points at the header, field or
// option found to be malformed.
type DecodeError struct {
	Reason Invalid
	Offset int
}

func (e DecodeError) Error() string {
	return "packet: offset " + strconv.Itoa(e.Offset) + ": " + e.Reason.String()
}

// Anomaly is a set of properties of a well-formed packet that no honest
// stack produces, or that attacks rely on. The decoder only reports them;
// guard and firewall decide what they cost.
type Anomaly uint16

// Anomalies the decoder recognises.
const (
	AnomalySYNFIN              Anomaly = 1 << iota // TCP SYN and FIN together
	AnomalySYNRST                                  // TCP SYN and RST together
	AnomalyNullScan                                // TCP with none of FIN SYN RST PSH ACK URG
	AnomalyXmas                                    // TCP FIN, PSH and URG without ACK
	AnomalyFINNoACK                                // TCP FIN without ACK (FIN scan)
	AnomalyLAND                                    // source address and port equal to the destination's (any protocol with ports)
	AnomalyPortZero                                // source or destination port 0 (any protocol with ports)
	AnomalyTCPFragOffset1                          // TCP fragment at offset 8, which can overwrite the flags (RFC 1858)
	AnomalySourceRoute                             // IPv4 LSRR/SSRR option or IPv6 type 0 routing header
	AnomalyIPv4EvilBit                             // IPv4 reserved flag bit set
	AnomalyUDPSurplus                              // IP payload longer than the UDP length (RFC 9868 surplus area)
	AnomalyICMPErrorAboutError                     // ICMP error quoting an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4)
	AnomalySegmentRouting                          // IPv6 segment routing header (type 4) with segments left: the outer destination is not the final one
	numAnomaly                 = iota
)

var anomalyNames = [numAnomaly]string{
	"syn-fin", "syn-rst", "null-scan", "xmas", "fin-no-ack", "land", "port-zero",
	"tcp-frag-offset-1", "source-route", "ipv4-evil-bit", "udp-surplus", "icmp-error-about-error",
	"segment-routing",
}

// Has reports whether all anomalies in b are in a.
func (a Anomaly) Has(b Anomaly) bool { return a&b == b }

// String lists the anomalies joined by "|", or "none".
func (a Anomaly) String() string {
	if a == 0 {
		return "none"
	}
	var sb strings.Builder
	for i := 0; i < 16; i++ {
		if a&(1<<i) == 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('|')
		}
		if i < numAnomaly {
			sb.WriteString(anomalyNames[i])
		} else {
			sb.WriteString("bit" + strconv.Itoa(i))
		}
	}
	return sb.String()
}
