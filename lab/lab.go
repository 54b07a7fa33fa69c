package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamePattern matches every namespace a lab run creates: "rp", four hex
// digits of the run's prefix, a dash and the host or switch name.
var NamePattern = regexp.MustCompile(`^rp[0-9a-f]{4}-[a-z0-9-]+$`)

// StateDir holds the logs of background processes, one folder per run.
const StateDir = "/run/rampart-lab"

// ErrNotRoot is returned by Up when the process cannot create namespaces.
var ErrNotRoot = errors.New("the lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to create network namespaces")

// Lab is a running topology.
type Lab struct {
	Prefix string
	Topo   *Topology
	Dir    string // this run's folder under StateDir

	log    *slog.Logger
	hosts  map[string]*Node
	nsList []string // every namespace created, in creation order

	mu    sync.Mutex
	procs []*Proc
	caps  []*Capture
	down  bool
}

// Node is a host of a running lab: a network namespace.
type Node struct {
	Name string
	NS   string // the namespace's name, as `ip netns list` shows it
	Host *Host  // nil for switches
	lab  *Lab
	h    netns.NsHandle
}

// CheckPrivileges returns ErrNotRoot when the lab cannot run here.
func CheckPrivileges() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the lab needs iproute2's ip command: %w", err)
	}
	return nil
}

// newPrefix draws a per-run prefix that no namespace uses yet.
func newPrefix() (string, error) {
	existing, _ := listNamespaces()
	for range 64 {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		p := "rp" + hex.EncodeToString(b[:])
		clash := false
		for _, n := range existing {
			if strings.HasPrefix(n, p+"-") {
				clash = true
				break
			}
		}
		if !clash {
			return p, nil
		}
	}
	return "", errors.New("no free lab prefix")
}

// New validates the topology and reserves a per-run prefix for it; nothing
// is created until Up.
func New(t *Topology, log *slog.Logger) (*Lab, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	prefix, err := newPrefix()
	if err != nil {
		return nil, err
	}
	return &Lab{Prefix: prefix, Topo: t, log: log, hosts: map[string]*Node{}, Dir: filepath.Join(StateDir, prefix)}, nil
}

// Up is New followed by (*Lab).Up.
func Up(ctx context.Context, t *Topology, log *slog.Logger) (*Lab, error) {
	l, err := New(t, log)
	if err != nil {
		return nil, err
	}
	if err := l.Up(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Up creates the topology. On any error, and when ctx is cancelled before it
// is done, everything created so far is removed before Up returns.
func (l *Lab) Up(ctx context.Context) (err error) {
	t, log, prefix := l.Topo, l.log, l.Prefix
	defer func() {
		if err != nil {
			l.Down()
		}
	}()
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return err
	}
	step := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lab setup interrupted: %w", err)
		}
		return nil
	}
	// Switches first: one bridge per network, in a namespace of its own so
	// that nothing on it can reach the machine's own stack.
	switches := map[string]*Node{}
	bridges := map[string]int{}
	for _, n := range t.Networks {
		if err := step(); err != nil {
			return err
		}
		sw, err := l.addNamespace("sw-"+n.Name, nil)
		if err != nil {
			return err
		}
		switches[n.Name] = sw
		idx, err := sw.setupSwitch()
		if err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
		bridges[n.Name] = idx
	}
	port := 0
	for i := range t.Hosts {
		if err := step(); err != nil {
			return err
		}
		h := &t.Hosts[i]
		node, err := l.addNamespace(h.Name, h)
		if err != nil {
			return err
		}
		if err := node.setupHost(); err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
		for _, ifc := range h.Interfaces {
			port++
			if err := node.attach(switches[ifc.Network], bridges[ifc.Network], "p"+strconv.Itoa(port), ifc); err != nil {
				return fmt.Errorf("host %s interface %s: %w", h.Name, ifc.Name, err)
			}
		}
		if h.Bridge {
			if err := node.bridgeInterfaces(); err != nil {
				return fmt.Errorf("host %s: %w", h.Name, err)
			}
		}
		for _, r := range h.Routes {
			if err := node.addRoute(r); err != nil {
				return fmt.Errorf("host %s route %s via %s: %w", h.Name, r.dst, r.Via.Addr, err)
			}
		}
	}
	// Neighbour discovery and the first ARP exchange take a moment; wait until
	// every route's next hop answers so the first real packet is not lost.
	if err := l.waitNeighbours(ctx); err != nil {
		return err
	}
	log.Info("lab up", "prefix", prefix, "hosts", len(t.Hosts), "networks", len(t.Networks))
	return nil
}

func (l *Lab) addNamespace(name string, h *Host) (*Node, error) {
	ns := l.Prefix + "-" + name
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", ns, err, strings.TrimSpace(string(out)))
	}
	l.nsList = append(l.nsList, ns)
	handle, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", ns, err)
	}
	node := &Node{Name: name, NS: ns, Host: h, lab: l, h: handle}
	if h != nil {
		l.hosts[h.Name] = node
	}
	return node, nil
}

func (n *Node) netlink() (*netlink.Handle, error) {
	return netlink.NewHandleAt(n.h)
}

// setupSwitch creates the bridge of a network segment and returns its index.
func (n *Node) setupSwitch() (int, error) {
	if err := n.Do(func() error {
		// The switch is layer 2 only: no addresses, no router solicitations
		// or MLD reports of its own in the captures.
		return writeSysctls(map[string]string{
			"net/ipv6/conf/all/disable_ipv6":     "1",
			"net/ipv6/conf/default/disable_ipv6": "1",
		})
	}); err != nil {
		return 0, err
	}
	nh, err := n.netlink()
	if err != nil {
		return 0, err
	}
	defer nh.Close()
	off := false
	ageing := uint32(30000)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}, MulticastSnooping: &off, AgeingTime: &ageing}
	if err := nh.LinkAdd(br); err != nil {
		return 0, fmt.Errorf("create bridge: %w", err)
	}
	link, err := nh.LinkByName("br0")
	if err != nil {
		return 0, err
	}
	if err := nh.LinkSetUp(link); err != nil {
		return 0, err
	}
	return link.Attrs().Index, nil
}

func (n *Node) setupHost() error {
	sysctls := map[string]string{
		// Addresses are usable at once (IFA_F_NODAD below); no autoconf from
		// stray router advertisements.
		"net/ipv6/conf/all/accept_ra":     "0",
		"net/ipv6/conf/default/accept_ra": "0",
		// Source validation is rampart's job, measured in the scenarios; the
		// kernel of a lab host must not do it silently (the machine's own
		// settings can leak into new namespaces).
		"net/ipv4/conf/all/rp_filter":     "0",
		"net/ipv4/conf/default/rp_filter": "0",
	}
	fwd := "0"
	if n.Host.Forward {
		fwd = "1"
	}
	sysctls["net/ipv4/ip_forward"] = fwd
	sysctls["net/ipv6/conf/all/forwarding"] = fwd
	if err := n.Do(func() error { return writeSysctls(sysctls) }); err != nil {
		return err
	}
	nh, err := n.netlink()
	if err != nil {
		return err
	}
	defer nh.Close()
	lo, err := nh.LinkByName("lo")
	if err != nil {
		return err
	}
	return nh.LinkSetUp(lo)
}

// attach joins the host to a network: a veth pair whose switch end (named
// port) is a bridge port and whose host end carries the interface's name and
// addresses.
func (n *Node) attach(sw *Node, bridge int, port string, ifc Interface) error {
	sh, err := sw.netlink()
	if err != nil {
		return err
	}
	defer sh.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: bridge},
		PeerName:      ifc.Name,
		PeerNamespace: netlink.NsFd(int(n.h)),
	}
	if err := sh.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth: %w", err)
	}
	swEnd, err := sh.LinkByName(port)
	if err != nil {
		return err
	}
	if err := sh.LinkSetMasterByIndex(swEnd, bridge); err != nil {
		return err
	}
	if err := sh.LinkSetUp(swEnd); err != nil {
		return err
	}
	hh, err := n.netlink()
	if err != nil {
		return err
	}
	defer hh.Close()
	link, err := hh.LinkByName(ifc.Name)
	if err != nil {
		return err
	}
	for _, a := range ifc.Addresses {
		addr := &netlink.Addr{IPNet: prefixToIPNet(a.Prefix), Flags: unix.IFA_F_NODAD}
		if err := hh.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add address %s: %w", a.Prefix, err)
		}
	}
	return hh.LinkSetUp(link)
}

// BridgeName is the Linux bridge of a host with bridge: true.
const BridgeName = "br0"

// bridgeInterfaces joins every interface of a bridge host in br0.
func (n *Node) bridgeInterfaces() error {
	if err := n.Do(func() error {
		return writeSysctls(map[string]string{"net/ipv6/conf/all/disable_ipv6": "1", "net/ipv6/conf/default/disable_ipv6": "1"})
	}); err != nil {
		return err
	}
	nh, err := n.netlink()
	if err != nil {
		return err
	}
	defer nh.Close()
	off := false
	if err := nh.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}, MulticastSnooping: &off}); err != nil {
		return fmt.Errorf("create bridge: %w", err)
	}
	br, err := nh.LinkByName(BridgeName)
	if err != nil {
		return err
	}
	if err := nh.LinkSetUp(br); err != nil {
		return err
	}
	return n.SetBridged(true)
}

// SetBridged attaches (true) or detaches (false) a bridge host's
// interfaces to its Linux bridge. Detached, nothing crosses the host until
// a program such as rampart's gateway forwards between the interfaces.
func (n *Node) SetBridged(on bool) error {
	if n.Host == nil || !n.Host.Bridge {
		return fmt.Errorf("host %s is not a bridge", n.Name)
	}
	nh, err := n.netlink()
	if err != nil {
		return err
	}
	defer nh.Close()
	br, err := nh.LinkByName(BridgeName)
	if err != nil {
		return err
	}
	for _, ifc := range n.Host.Interfaces {
		link, err := nh.LinkByName(ifc.Name)
		if err != nil {
			return err
		}
		if on {
			err = nh.LinkSetMaster(link, br)
		} else {
			err = nh.LinkSetNoMaster(link)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", ifc.Name, err)
		}
	}
	return nil
}

func (n *Node) addRoute(r Route) error {
	hh, err := n.netlink()
	if err != nil {
		return err
	}
	defer hh.Close()
	return hh.RouteAdd(&netlink.Route{Dst: prefixToIPNet(r.dst), Gw: net.IP(r.Via.AsSlice())})
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// waitNeighbours pings every route's next hop once from its host (ARP and
// NDP resolve), so that tests do not race the first neighbour exchange.
func (l *Lab) waitNeighbours(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Second)
	for _, h := range l.Topo.Hosts {
		node := l.hosts[h.Name]
		for _, r := range h.Routes {
			for {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("lab setup interrupted: %w", err)
				}
				ok, err := node.probe(r.Via.Addr)
				if err != nil {
					return fmt.Errorf("host %s: probe %s: %w", h.Name, r.Via.Addr, err)
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("host %s: next hop %s does not answer", h.Name, r.Via.Addr)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return nil
}

// probe sends one unprivileged UDP datagram towards a (to a port nobody
// listens on) and reports whether the neighbour entry became reachable.
func (n *Node) probe(a netip.Addr) (bool, error) {
	var ok bool
	err := n.Do(func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
		if err != nil {
			return err
		}
		_, _ = c.Write([]byte{0})
		c.Close()
		neigh, err := netlink.NeighList(0, familyOf(a))
		if err != nil {
			return err
		}
		for _, ne := range neigh {
			if ne.IP.Equal(net.IP(a.AsSlice())) && ne.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE|netlink.NUD_PERMANENT) != 0 {
				ok = true
			}
		}
		return nil
	})
	return ok, err
}

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func writeSysctls(kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := os.WriteFile("/proc/sys/"+k, []byte(kv[k]), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", strings.ReplaceAll(k, "/", "."), err)
		}
	}
	return nil
}

// Host returns the running host named name; it panics on an unknown name,
// which is a programming error in a scenario.
func (l *Lab) Host(name string) *Node {
	n, ok := l.hosts[name]
	if !ok {
		panic("lab: no host " + strconv.Quote(name))
	}
	return n
}

// Addr returns the first address of the family (4 or 6) of host name.
func (l *Lab) Addr(host string, family int) netip.Addr { return l.Topo.Addr(host, family) }

// Down stops every process and capture of the run and removes its
// namespaces (which removes their veth pairs and bridges with them). It is
// safe to call more than once.
func (l *Lab) Down() error {
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return nil
	}
	l.down = true
	procs, caps := l.procs, l.caps
	l.mu.Unlock()
	for _, c := range caps {
		c.Stop()
	}
	for _, p := range procs {
		p.Stop()
	}
	var errs []error
	for _, n := range l.hosts {
		n.h.Close()
	}
	for i := len(l.nsList) - 1; i >= 0; i-- {
		if err := removeNamespace(l.nsList[i]); err != nil {
			errs = append(errs, err)
		}
	}
	_ = os.RemoveAll(l.Dir)
	if len(errs) == 0 {
		l.log.Info("lab down", "prefix", l.Prefix)
	}
	return errors.Join(errs...)
}

// removeNamespace kills whatever still runs in the namespace and deletes it.
func removeNamespace(ns string) error {
	for _, pid := range namespacePIDs(ns) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("ip netns delete %s: %v: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// namespacePIDs lists the processes running in the namespace, except this
// one.
func namespacePIDs(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func listNamespaces() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// Leftover is a lab run found on this machine: what `rampart lab down`
// removes.
type Leftover struct {
	Prefix string
	// Namespaces are the run's hosts and switches, without the prefix.
	Namespaces []string
	// Processes were running inside them.
	Processes []Process
	// StateDir is the run's folder of logs, "" when it has none.
	StateDir string
}

// Process is a process found running inside a lab namespace.
type Process struct {
	PID       int
	Namespace string // the host or switch, without the prefix
	Command   string // its name, as /proc/PID/comm says
}

var prefixPattern = regexp.MustCompile(`^rp[0-9a-f]{4}$`)

// Leftovers lists the lab runs on this machine, ordered by prefix: their
// namespaces (by NamePattern), the processes inside, and their state
// folders (a run that crashed may have left only that). With prefixes, it
// lists only those runs.
func Leftovers(prefixes ...string) ([]Leftover, error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	for _, p := range prefixes {
		if !prefixPattern.MatchString(p) {
			return nil, fmt.Errorf("%q is not a lab prefix (rp and four hex digits)", p)
		}
	}
	wanted := func(p string) bool { return len(prefixes) == 0 || slices.Contains(prefixes, p) }
	names, err := listNamespaces()
	if err != nil {
		return nil, err
	}
	byPrefix := map[string]*Leftover{}
	get := func(p string) *Leftover {
		if byPrefix[p] == nil {
			byPrefix[p] = &Leftover{Prefix: p}
		}
		return byPrefix[p]
	}
	for _, n := range names {
		if !NamePattern.MatchString(n) {
			continue
		}
		p, host, _ := strings.Cut(n, "-")
		if !wanted(p) {
			continue
		}
		lo := get(p)
		lo.Namespaces = append(lo.Namespaces, host)
		for _, pid := range namespacePIDs(n) {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			lo.Processes = append(lo.Processes, Process{PID: pid, Namespace: host, Command: strings.TrimSpace(string(comm))})
		}
	}
	ents, _ := os.ReadDir(StateDir)
	for _, e := range ents {
		if e.IsDir() && prefixPattern.MatchString(e.Name()) && wanted(e.Name()) {
			get(e.Name()).StateDir = filepath.Join(StateDir, e.Name())
		}
	}
	var out []Leftover
	for _, lo := range byPrefix {
		sort.Strings(lo.Namespaces)
		out = append(out, *lo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out, nil
}

// Sweep removes the lab runs that Leftovers finds (every run, or those of
// the prefixes given): it kills the processes inside their namespaces,
// deletes the namespaces (their veth pairs and bridges go with them) and
// the state folders. It is what `rampart lab down` does after a crash or a
// detached run, and returns what it found and removed.
func Sweep(prefixes ...string) ([]Leftover, error) {
	found, err := Leftovers(prefixes...)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, lo := range found {
		for _, h := range lo.Namespaces {
			if err := removeNamespace(lo.Prefix + "-" + h); err != nil {
				errs = append(errs, err)
			}
		}
		if lo.StateDir != "" {
			if err := os.RemoveAll(lo.StateDir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// The parent folder goes when the last run's folder went.
	_ = os.Remove(StateDir)
	return found, errors.Join(errs...)
}

// Do runs fn on an OS thread that has entered the node's namespace. Sockets
// fn opens belong to the namespace for their whole life, so the usual way to
// serve or dial inside a host is to create the socket in Do and use it from
// any goroutine afterwards. Goroutines that fn starts do not inherit the
// namespace.
func (n *Node) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.h); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", n.NS, err)
			return
		}
		err = fn()
		// If the thread cannot go back, it stays locked and the runtime
		// discards it when this goroutine ends, so no other goroutine ever
		// runs in the wrong namespace.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Command returns a command that runs argv inside the node's namespace.
func (n *Node) Command(ctx context.Context, argv ...string) *exec.Cmd {
	args := append([]string{"netns", "exec", n.NS}, argv...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// Run runs argv inside the node and returns its combined output.
func (n *Node) Run(ctx context.Context, argv ...string) ([]byte, error) {
	out, err := n.Command(ctx, argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %s: %w: %s", n.Name, strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Proc is a background process in a lab host.
type Proc struct {
	Name string
	Log  string // file with its standard output and error
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	once sync.Once
}

// Start runs argv in the background inside the node; its output goes to a
// log file in the run's folder. The lab stops it on Down.
func (n *Node) Start(name string, argv ...string) (*Proc, error) {
	logPath := filepath.Join(n.lab.Dir, n.Name+"-"+name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	args := append([]string{"netns", "exec", n.NS}, argv...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	n.lab.mu.Lock()
	n.lab.procs = append(n.lab.procs, p)
	n.lab.mu.Unlock()
	return p, nil
}

// PID is the process's id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit status once Done is closed.
func (p *Proc) Err() error { <-p.done; return p.err }

// Output returns what the process has written so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Stop ends the process: SIGTERM, then SIGKILL after two seconds.
func (p *Proc) Stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			_ = p.Signal(syscall.SIGKILL)
			<-p.done
		}
	})
}
