//go:build linux

package datapath

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kernelInputFilter identifies the filter DropKernelInput installs: its
// priority and handle on the interface's ingress hook. A filter left by a
// process that died before removing it is replaced, not doubled.
const (
	kernelInputPriority = 1
	kernelInputHandle   = 0x72616d70 // "ramp"
)

// DropKernelInput keeps the kernel's own input path off the frames that
// arrive on the interface ifname (in the calling thread's network
// namespace): a clsact qdisc with a BPF filter on its ingress hook that
// drops every frame (a two-instruction program; cls_bpf is the classifier
// kernels are most often built with, where matchall and gact may be
// missing). Packet sockets, the ports' rings among them,
// are handed each frame before the ingress hook runs, so the ports still
// see all of it; the kernel's IPv4 and IPv6 input, ARP and neighbour
// discovery see nothing.
//
// For router mode, where rampart owns the interface: frames there are
// addressed to the interface's own MAC address, so without the filter the
// kernel also takes each one up its IP input (a route lookup and a
// drop, since it has no address and does not forward) in the softirq of
// whoever sent it, which on a veth is the sending host's process.
//
// restore removes the filter, and the qdisc if DropKernelInput added it.
func DropKernelInput(ifname string) (restore func() error, err error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("datapath: %s: %w", ifname, err)
	}
	idx := link.Attrs().Index
	qdisc := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	added := true
	if err := netlink.QdiscAdd(qdisc); err != nil {
		if !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("datapath: %s: add clsact qdisc: %w", ifname, err)
		}
		added = false // someone else's (or ours, left behind): keep it
	}
	prog, err := loadDropProgram()
	if err != nil {
		if added {
			_ = netlink.QdiscDel(qdisc)
		}
		return nil, fmt.Errorf("datapath: %s: %w", ifname, err)
	}
	// The filter holds the program; the descriptor is not needed after.
	defer unix.Close(prog)
	filter := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: idx,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    kernelInputHandle,
			Priority:  kernelInputPriority,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           prog,
		Name:         "rampart-drop",
		DirectAction: true,
	}
	if err := netlink.FilterReplace(filter); err != nil {
		if added {
			_ = netlink.QdiscDel(qdisc)
		}
		return nil, fmt.Errorf("datapath: %s: add ingress drop filter: %w", ifname, err)
	}
	return func() error {
		if added {
			// Deleting the qdisc takes its filters with it.
			err := netlink.QdiscDel(qdisc)
			if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("datapath: %s: remove clsact qdisc: %w", ifname, err)
			}
			return nil
		}
		if err := netlink.FilterDel(filter); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("datapath: %s: remove ingress drop filter: %w", ifname, err)
		}
		return nil
	}, nil
}

// loadDropProgram loads a BPF program for tc's classifier that returns
// TC_ACT_SHOT for every frame: "r0 = 2; exit".
func loadDropProgram() (int, error) {
	insns := [2]uint64{
		0xb7 | 2<<32, // BPF_ALU64|BPF_MOV|BPF_K, dst r0, imm TC_ACT_SHOT
		0x95,         // BPF_JMP|BPF_EXIT
	}
	license := []byte("GPL\x00")
	// The leading fields of union bpf_attr for BPF_PROG_LOAD; the kernel
	// takes a shorter attribute as zeros after it.
	attr := struct {
		progType, insnCnt uint32
		insns, license    uint64
		logLevel, logSize uint32
		logBuf            uint64
		kernVersion       uint32
		progFlags         uint32
		progName          [16]byte
	}{
		progType: unix.BPF_PROG_TYPE_SCHED_CLS,
		insnCnt:  uint32(len(insns)),
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "rampart_drop")
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(&insns)
	runtime.KeepAlive(license)
	if e != 0 {
		return -1, fmt.Errorf("load BPF drop program: %w", e)
	}
	return int(fd), nil
}
