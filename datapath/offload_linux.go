//go:build linux

package datapath

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offload names NIC offloads that change what a packet socket sees or can
// send.
type Offload uint32

const (
	// OffloadGRO merges received segments into super-frames (rx-gro).
	OffloadGRO Offload = 1 << iota
	// OffloadLRO is GRO done by the NIC (large-receive-offload).
	OffloadLRO
	// OffloadTSO lets the stack hand the device unsegmented TCP
	// super-frames (tx-tcp-segmentation and friends).
	OffloadTSO
	// OffloadGSO is TSO done in software just before the driver.
	OffloadGSO
	// OffloadTxChecksum leaves L4 checksums for the device to fill in; a
	// veth peer passes them on unfilled.
	OffloadTxChecksum
	// OffloadRxChecksum lets the device verify L4 checksums.
	OffloadRxChecksum
)

const ethFlagLRO = 1 << 15

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data; the tail pads it to the
// kernel's size on every architecture.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24]byte
}

var offloadCommands = []struct {
	o        Offload
	get, set uint32
	name     string
}{
	{OffloadGRO, unix.ETHTOOL_GGRO, unix.ETHTOOL_SGRO, "GRO"},
	{OffloadTSO, unix.ETHTOOL_GTSO, unix.ETHTOOL_STSO, "TSO"},
	{OffloadGSO, unix.ETHTOOL_GGSO, unix.ETHTOOL_SGSO, "GSO"},
	{OffloadTxChecksum, unix.ETHTOOL_GTXCSUM, unix.ETHTOOL_STXCSUM, "tx checksum"},
	{OffloadRxChecksum, unix.ETHTOOL_GRXCSUM, unix.ETHTOOL_SRXCSUM, "rx checksum"},
}

// SetOffloads turns the offloads in o on or off on the interface ifname,
// in the network namespace of the calling thread. Offloads already in the
// wanted state, or unknown to the device, are left alone.
func SetOffloads(ifname string, o Offload, on bool) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("datapath: %s: offloads: %w", ifname, err)
	}
	defer unix.Close(fd)
	return setOffloads(fd, ifname, o, on)
}

func setOffloads(fd int, ifname string, o Offload, on bool) error {
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("datapath: interface name %q too long", ifname)
	}
	want := uint32(0)
	if on {
		want = 1
	}
	for _, c := range offloadCommands {
		if o&c.o == 0 {
			continue
		}
		cur, err := ethtool(fd, ifname, c.get, 0)
		if err == unix.EOPNOTSUPP {
			continue
		}
		if err != nil {
			return fmt.Errorf("datapath: %s: read %s: %w", ifname, c.name, err)
		}
		if (cur != 0) == on {
			continue
		}
		if _, err := ethtool(fd, ifname, c.set, want); err != nil {
			return fmt.Errorf("datapath: %s: set %s %v: %w", ifname, c.name, on, err)
		}
	}
	if o&OffloadLRO != 0 {
		flags, err := ethtool(fd, ifname, unix.ETHTOOL_GFLAGS, 0)
		if err == unix.EOPNOTSUPP {
			return nil
		}
		if err != nil {
			return fmt.Errorf("datapath: %s: read LRO: %w", ifname, err)
		}
		if (flags&ethFlagLRO != 0) == on {
			return nil
		}
		flags ^= ethFlagLRO
		if _, err := ethtool(fd, ifname, unix.ETHTOOL_SFLAGS, flags); err != nil {
			return fmt.Errorf("datapath: %s: set LRO %v: %w", ifname, on, err)
		}
	}
	return nil
}

func ethtool(fd int, ifname string, cmd, data uint32) (uint32, error) {
	v := &ethtoolValue{cmd: cmd, data: data}
	ifr := &ifreqData{data: unsafe.Pointer(v)}
	copy(ifr.name[:], ifname)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(v)
	if e != 0 {
		return 0, e
	}
	return v.data, nil
}
