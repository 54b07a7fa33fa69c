package datapath

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxCaptureLength bounds the captured length of one frame in a capture
// file. It is libpcap's MAXIMUM_SNAPLEN: anything larger is a corrupt
// record, not a frame.
const MaxCaptureLength = 262144

// MaxFrameLength is the largest frame the live path promises to deliver
// whole: a 64 KiB GRO/LRO/TSO super-frame plus link-layer headers and two
// VLAN tags.
const MaxFrameLength = 65536 + 14 + 8

// Side names a bridge port.
type Side uint8

const (
	// LAN is the inside port.
	LAN Side = iota
	// WAN is the outside port.
	WAN
)

// Other returns the opposite port: where a bridged frame goes.
func (s Side) Other() Side { return s ^ 1 }

func (s Side) String() string {
	switch s {
	case LAN:
		return "lan"
	case WAN:
		return "wan"
	}
	return "side(" + strconv.Itoa(int(s)) + ")"
}

// LinkType is a pcap LINKTYPE_ value: what the first byte of a frame is.
type LinkType uint32

const (
	// LinkTypeNull frames start with a 4-byte BSD address family in the
	// byte order of the host that wrote them (DLT_NULL: BSD loopback).
	LinkTypeNull LinkType = 0
	// LinkTypeEthernet frames start with an Ethernet II header.
	LinkTypeEthernet LinkType = 1
	// LinkTypePPP frames start with a PPP protocol field, perhaps after
	// the HDLC address and control bytes 0xff 0x03.
	LinkTypePPP LinkType = 9
	// LinkTypeRawDLT12 and LinkTypeRawDLT14 are raw IP under the DLT_RAW
	// numbers of most systems (12) and of OpenBSD (14), which old
	// captures carry as their link type.
	LinkTypeRawDLT12 LinkType = 12
	LinkTypeRawDLT14 LinkType = 14
	// LinkTypePPPHDLC frames are PPP in HDLC-like framing (RFC 1662).
	LinkTypePPPHDLC LinkType = 50
	// LinkTypeRaw frames start with an IPv4 or IPv6 header (the version
	// nibble tells which).
	LinkTypeRaw LinkType = 101
	// LinkTypeCiscoHDLC frames start with Cisco HDLC's address, control
	// and an EtherType (DLT_C_HDLC).
	LinkTypeCiscoHDLC LinkType = 104
	// LinkTypeLinuxSLL frames start with Linux's 16-byte cooked header
	// (tcpdump -i any before libpcap 1.10).
	LinkTypeLinuxSLL LinkType = 113
	// LinkTypeLoop frames start with a 4-byte address family in network
	// byte order (OpenBSD's loopback).
	LinkTypeLoop LinkType = 108
	// LinkTypeIPv4 frames start with an IPv4 header.
	LinkTypeIPv4 LinkType = 228
	// LinkTypeIPv6 frames start with an IPv6 header.
	LinkTypeIPv6 LinkType = 229
	// LinkTypeLinuxSLL2 frames start with Linux's 20-byte cooked header
	// (tcpdump -i any since libpcap 1.10).
	LinkTypeLinuxSLL2 LinkType = 276
)

// Supported reports whether the pipeline can decode frames of this type.
func (l LinkType) Supported() bool {
	switch l {
	case LinkTypeEthernet, LinkTypeRaw, LinkTypeIPv4, LinkTypeIPv6, LinkTypeNull, LinkTypeLoop, LinkTypePPP,
		LinkTypePPPHDLC, LinkTypeRawDLT12, LinkTypeRawDLT14, LinkTypeCiscoHDLC, LinkTypeLinuxSLL, LinkTypeLinuxSLL2:
		return true
	}
	return false
}

// String names the link types people meet in the field, so that a rejected
// file says what it actually holds.
func (l LinkType) String() string {
	switch l {
	case LinkTypeNull:
		return "NULL"
	case LinkTypeEthernet:
		return "ETHERNET"
	case 105:
		return "IEEE802_11"
	case LinkTypeLinuxSLL:
		return "LINUX_SLL"
	case 127:
		return "IEEE802_11_RADIOTAP"
	case LinkTypeLinuxSLL2:
		return "LINUX_SLL2"
	case LinkTypeRawDLT12, LinkTypeRawDLT14, LinkTypeRaw:
		return "RAW"
	case LinkTypeIPv4:
		return "IPV4"
	case LinkTypeIPv6:
		return "IPV6"
	case LinkTypePPP:
		return "PPP"
	case LinkTypePPPHDLC:
		return "PPP_HDLC"
	case LinkTypeCiscoHDLC:
		return "C_HDLC"
	case LinkTypeLoop:
		return "LOOP"
	}
	return "LINKTYPE_" + strconv.FormatUint(uint64(l), 10)
}

// PacketType is the kernel's classification of a received frame
// (sockaddr_ll.sll_pkttype). Capture files don't carry it: it is PacketHost
// for them.
type PacketType uint8

const (
	PacketHost      PacketType = 0 // addressed to this host
	PacketBroadcast PacketType = 1 // link-layer broadcast
	PacketMulticast PacketType = 2 // link-layer multicast
	PacketOtherHost PacketType = 3 // addressed to someone else (promiscuous)
	PacketOutgoing  PacketType = 4 // sent by this host; never delivered
)

// CaptureFlags carry per-frame facts from the kernel.
type CaptureFlags uint16

const (
	// FlagChecksumNotReady: the frame came from a local sender with
	// checksum offload, its L4 checksum is not filled in yet, and nothing
	// on the way out will fill it in: the handler must. A port with vnet
	// headers never sets it; there ci.VNet says NeedsChecksum and the
	// kernel completes the checksum when the frame is forwarded.
	FlagChecksumNotReady CaptureFlags = 1 << iota
	// FlagChecksumValid: the device verified the L4 checksum.
	FlagChecksumValid
	// FlagVLANRestored: the kernel had stripped an 802.1Q/802.1ad tag and
	// the receive path put it back in the frame; VLAN holds its TCI.
	FlagVLANRestored
	// FlagRingLosing: the ring dropped frames recently (TP_STATUS_LOSING).
	FlagRingLosing
)

// CaptureInfo describes one frame, live or from a file.
type CaptureInfo struct {
	Timestamp time.Time
	// CaptureLength is len(frame); Length is the length on the wire. They
	// differ only for truncated frames.
	CaptureLength int
	Length        int
	// InterfaceIndex is the ifindex for a live queue, the pcapng interface
	// id for a pcapng file and 0 for a pcap file.
	InterfaceIndex int
	LinkType       LinkType
	PacketType     PacketType
	Flags          CaptureFlags
	// VLAN is the restored tag's TCI when FlagVLANRestored is set.
	VLAN uint16
	// Queue is the fanout queue (worker) index of a live frame.
	Queue int
	// VNet is the kernel's offload header of a live frame on a port with
	// vnet headers (GSO super-frame, checksum left to complete); zero for
	// frames from files and ports without. Forwarding the frame through
	// the bridge's Sender carries it along.
	VNet VNetHeader
}

// Truncated reports whether the frame is shorter than it was on the wire.
func (ci *CaptureInfo) Truncated() bool { return ci.CaptureLength < ci.Length }

// Source is a stream of frames: a live queue or a capture file. The frame
// is valid until the next call to Next. Next returns io.EOF at the end of a
// file and ErrClosed once a live queue is closed.
type Source interface {
	Next() (frame []byte, ci CaptureInfo, err error)
}

// Sink takes frames: a live port or queue (transmit) or a capture file.
// Write does not retain frame.
type Sink interface {
	Write(frame []byte) error
}

var (
	// ErrClosed is returned by operations on a closed port, queue or bridge.
	ErrClosed = errors.New("datapath: closed")
	// ErrTruncated: a capture file ends in the middle of a header or record.
	ErrTruncated = errors.New("truncated")
	// ErrUnsupportedLinkType: a capture holds frames the pipeline can't
	// decode (anything but Ethernet and raw IP).
	ErrUnsupportedLinkType = errors.New("unsupported link type")
	// ErrNotCapture: the input is neither pcap nor pcapng.
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrMalformed: a capture file's structure is inconsistent.
	ErrMalformed = errors.New("malformed")
	// ErrFrameTooLarge: a frame is larger than the path can carry.
	ErrFrameTooLarge = errors.New("datapath: frame too large")
	// ErrEmptyFrame: a zero-length frame was given to a sink.
	ErrEmptyFrame = errors.New("datapath: empty frame")
)

// FileError locates a problem in a capture file: which file, at which byte
// offset, and how many packets had been read before it.
type FileError struct {
	File    string
	Offset  int64
	Packets uint64
	Err     error
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s: offset %d (after %d packets): %v", e.File, e.Offset, e.Packets, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// LinkTypeError is the reason inside a FileError for a capture whose link
// type the pipeline can't decode.
type LinkTypeError struct {
	LinkType LinkType
	// Interface is the pcapng interface id; -1 for pcap files.
	Interface int
}

func (e *LinkTypeError) Error() string {
	if e.Interface >= 0 {
		return fmt.Sprintf("interface %d: unsupported link type %d (%s)", e.Interface, uint32(e.LinkType), e.LinkType)
	}
	return fmt.Sprintf("unsupported link type %d (%s)", uint32(e.LinkType), e.LinkType)
}

func (e *LinkTypeError) Unwrap() error { return ErrUnsupportedLinkType }
