package scenario

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/lab"
)

// The lecture's evasions of a network IDS (issue 11, item 8): the
// attacker opens a real TCP connection to an inside address and sends a
// command split so that the bytes an engine reassembles depend on what
// it believes about the destination. Each inside address stands for one
// operating system (one of the engine's stream policies): the scenario
// adds them to client2 for the run and removes them afterwards. A
// listener on client2 records exactly the bytes its TCP stack delivered.
//
// Every stream reads "<attack> <policy> EVIL" followed by three contested
// bytes and "!!": "CMD" (the attack, EVILCMD, which the signature looks
// for) or the junk "XXX". The prefix, up to EVIL, is sent last, so that
// everything after it waits out of order: a receiver resolves the
// overlaps among held segments by its policy (Novak and Sturges), and no
// single packet carries the signature.

// EvasionPort is the inside port the evasions connect to.
const EvasionPort = 9000

// EvasionPolicy is the gateway's firewall policy for the evasions: the
// lab's, with the attack's port open towards the inside, so that what
// judges the attack is the IDS.
const EvasionPolicy = GatewayPolicy + "allow in on wan to any port 9000 proto tcp\n"

// evasionSID is the signature's rule: the command in the reassembled
// stream (only_stream: no packet carries it whole anyway).
const evasionSID = 9100001

// StreamPolicies are the engine's TCP stream policies, one inside address
// each.
var StreamPolicies = []string{"first", "last", "bsd", "linux", "old-linux", "windows", "vista", "solaris", "hpux10", "hpux11", "irix", "macos"}

// evasionAddr is the inside address that stands for the i-th policy:
// 10.10.0.101 and on, which the topology gives nobody.
func evasionAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 10, 0, byte(101 + i)}) }

// The contested bytes and what the stream ends with.
const (
	evasionAttack = "CMD"
	evasionJunk   = "XXX"
	evasionTail   = "!!"
)

// segment is one data segment of an evasion: Data at stream offset Off,
// sent with TTL (0: 64).
type segment struct {
	Off  int
	Data string
	TTL  uint8
}

// EvasionTarget is one inside address, the policy it is configured with,
// and the segments sent to it.
type EvasionTarget struct {
	Policy string
	Addr   netip.Addr
	// Layout names the segment pattern.
	Layout string
	prefix string
	segs   []segment // in send order, before the prefix
}

// Stream returns the stream that carries the contested bytes mid: the
// prefix, EVIL, mid and the tail.
func (t *EvasionTarget) Stream(mid string) string { return t.prefix + "EVIL" + mid + evasionTail }

// contested is where the contested bytes start.
func (t *EvasionTarget) contested() int { return len(t.prefix) + len("EVIL") }

// segments returns the segments in send order: the ones of the layout,
// then the prefix up to EVIL, which fills the hole at the start.
func (t *EvasionTarget) segments() []segment {
	return append(slices.Clone(t.segs), segment{Off: 0, Data: t.prefix + "EVIL"})
}

// Reading names what a stream of the target reads: "EVILCMD", "EVILXXX",
// or the bytes themselves when they are neither.
func (t *EvasionTarget) Reading(b []byte) string {
	switch string(b) {
	case t.Stream(evasionAttack):
		return "EVIL" + evasionAttack
	case t.Stream(evasionJunk):
		return "EVIL" + evasionJunk
	}
	return fmt.Sprintf("%q", b)
}

// readingSIDs are the rules that say what the engine inspected for
// target i: the whole stream, from its first to its last byte, with the
// attack (the first) or the junk (the second).
func readingSIDs(i int) (attack, junk int) { return 9100100 + 2*i, 9100101 + 2*i }

// evasionRules is the rule file of a run: the signature, and per target
// the rules of its two readings.
func evasionRules(targets []EvasionTarget) string {
	var b strings.Builder
	fmt.Fprintf(&b, "alert tcp $EXTERNAL_NET any -> $HOME_NET %d (msg:\"lab evasion: command EVILCMD in the stream\"; flow:to_server,only_stream; content:\"EVIL%s\"; classtype:attempted-admin; sid:%d; rev:1;)\n",
		EvasionPort, evasionAttack, evasionSID)
	for i := range targets {
		t := &targets[i]
		a, j := readingSIDs(i)
		for _, r := range []struct {
			sid int
			mid string
		}{{a, evasionAttack}, {j, evasionJunk}} {
			fmt.Fprintf(&b, "alert tcp $EXTERNAL_NET any -> %s %d (msg:\"lab evasion: the stream inspected reads %s\"; flow:to_server,only_stream; content:\"%s\"; startswith; endswith; sid:%d; rev:1;)\n",
				t.Addr, EvasionPort, "EVIL"+r.mid, t.Stream(r.mid), r.sid)
		}
	}
	return b.String()
}

// EvasionEngine is how one run configures the IDS.
type EvasionEngine struct {
	// Name says what the run is, for the report.
	Name string
	// Mode is detect or prevent.
	Mode string
	// Naive, when set, is the one stream policy every host gets: the
	// engine that does not know its targets.
	Naive string
	// Extra is more YAML of the ids section (indented by two).
	Extra string
}

// idsSection is the configuration's ids section for a run; rules and
// eve are left out when empty (`rampart inspect` takes them as flags).
func (e EvasionEngine) idsSection(targets []EvasionTarget, rules, eve string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ids:\n  mode: %s\n", e.Mode)
	if rules != "" {
		fmt.Fprintf(&b, "  rules: [%s]\n  eve: %s\n", rules, eve)
	}
	if e.Naive != "" {
		fmt.Fprintf(&b, "  default: {stream: %s}\n", e.Naive)
		b.WriteString(e.Extra)
		return b.String()
	}
	b.WriteString(e.Extra)
	b.WriteString("  host_policies:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "    - {prefix: %s/32, stream: %s}\n", t.Addr, t.Policy)
	}
	return b.String()
}

// EvasionRun is what one run of an attack saw, per target (in the order
// of the targets).
type EvasionRun struct {
	Engine EvasionEngine
	// Alerted says the signature's alert fired for the target.
	Alerted []bool
	// Inspected is what the engine reassembled for the target, as its
	// reading rules say ("" when neither fired).
	Inspected []string
	// Received is exactly what client2's TCP stack delivered.
	Received [][]byte
	// Evasions counts the engine's stream.ttl_evasion events for the
	// target: segments it left out because they expire on the way.
	Evasions []int
	Err      error
}

// Missed returns the policies of the targets the signature's alert
// missed.
func (r *EvasionRun) Missed(targets []EvasionTarget) []string {
	var out []string
	for i, t := range targets {
		if !r.Alerted[i] {
			out = append(out, t.Policy)
		}
	}
	return out
}

// Faithful returns the policies of the targets whose host received
// exactly the bytes the engine inspected, and a description of each
// mismatch.
func (r *EvasionRun) Faithful(targets []EvasionTarget) (same []string, mismatch []string) {
	for i := range targets {
		t := &targets[i]
		got := t.Reading(r.Received[i])
		if r.Inspected[i] != "" && got == r.Inspected[i] {
			same = append(same, t.Policy)
			continue
		}
		in := r.Inspected[i]
		if in == "" {
			in = "neither reading"
		}
		mismatch = append(mismatch, fmt.Sprintf("%s: inspected %s, received %s", t.Policy, in, got))
	}
	return same, mismatch
}

func newEvasionRun(e EvasionEngine, n int) EvasionRun {
	return EvasionRun{Engine: e, Alerted: make([]bool, n), Inspected: make([]string, n), Received: make([][]byte, n), Evasions: make([]int, n)}
}

// evasionGateway starts rampart's gateway for one run; stop ends it (the
// engine writes out its EVE file) and undoes what start changed.
type evasionGateway func(ctx context.Context, dir, idsSection string) (stop func(), err error)

// runEvasion sends the attack to every target through a gateway that
// start brings up with engine's IDS, and reads the alerts and what
// client2 received.
func runEvasion(ctx context.Context, l *lab.Lab, env *lab.Env, dir string, targets []EvasionTarget, engine EvasionEngine, start evasionGateway) (run EvasionRun) {
	run = newEvasionRun(engine, len(targets))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		run.Err = err
		return run
	}
	rules := filepath.Join(dir, "evasion.rules")
	if err := os.WriteFile(rules, []byte(evasionRules(targets)), 0o600); err != nil {
		run.Err = err
		return run
	}
	eve := filepath.Join(dir, "eve.json")
	rec, err := startRecorder(l.Host("client2"), EvasionPort)
	if err != nil {
		run.Err = err
		return run
	}
	defer rec.close()
	stop, err := start(ctx, dir, engine.idsSection(targets, rules, eve))
	if err != nil {
		run.Err = fmt.Errorf("%s: start the gateway: %w", engine.Name, err)
		return run
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	attacker := l.Host("attacker")
	for i := range targets {
		t := &targets[i]
		if run.Received[i], err = sendEvasion(ctx, attacker, rec, t); err != nil {
			run.Err = fmt.Errorf("%s: %s (%s): %w", engine.Name, t.Policy, t.Addr, err)
			return run
		}
	}
	stop()
	stopped = true
	run.Err = run.readEVE(eve, targets)
	return run
}

// readEVE fills in the alerts of the run's EVE file: the signature's per
// target, and which of its readings the engine inspected.
func (run *EvasionRun) readEVE(eve string, targets []EvasionTarget) error {
	alerts, err := readEVEAlerts(eve)
	if err != nil {
		return err
	}
	for i := range targets {
		a, j := readingSIDs(i)
		addr := targets[i].Addr
		run.Evasions[i] = alerts[eveAlert{ttlEvasionEvent, addr}]
		run.Alerted[i] = alerts[eveAlert{evasionSID, addr}] > 0
		switch {
		case alerts[eveAlert{a, addr}] > 0 && alerts[eveAlert{j, addr}] > 0:
			run.Inspected[i] = "both readings"
		case alerts[eveAlert{a, addr}] > 0:
			run.Inspected[i] = "EVIL" + evasionAttack
		case alerts[eveAlert{j, addr}] > 0:
			run.Inspected[i] = "EVIL" + evasionJunk
		}
	}
	return nil
}

// sendEvasion opens a connection from the attacker to the target, sends
// its segments and a FIN, and returns what client2 delivered.
func sendEvasion(ctx context.Context, attacker *lab.Node, rec *recorder, t *EvasionTarget) ([]byte, error) {
	c, err := attacker.DialRawTCP(ctx, netip.AddrPortFrom(t.Addr, EvasionPort), 3*time.Second)
	if err != nil {
		return nil, err
	}
	end := 0
	for _, s := range t.segments() {
		if err := c.Send(uint32(s.Off), []byte(s.Data), s.TTL); err != nil {
			c.Close(uint32(end), 0)
			return nil, err
		}
		end = max(end, s.Off+len(s.Data))
		// Each segment reaches the host before the next is sent: the
		// order of arrival is the attack.
		time.Sleep(5 * time.Millisecond)
	}
	closeErr := c.Close(uint32(end), 2*time.Second)
	got, err := rec.next(t.Addr, 3*time.Second)
	if err != nil {
		return nil, errors.Join(err, closeErr)
	}
	return got, closeErr
}

// eveAlert is an alert's rule and destination; the engine's
// stream.ttl_evasion events count under ttlEvasionEvent.
type eveAlert struct {
	SID int
	Dst netip.Addr
}

// ttlEvasionEvent stands for the event stream.ttl_evasion in the counts
// of readEVEAlerts: no rule has a negative id.
const ttlEvasionEvent = -1

// readEVEAlerts counts the alerts of an EVE file by rule and destination,
// and the stream.ttl_evasion events by destination.
func readEVEAlerts(path string) (map[eveAlert]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[eveAlert]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var rec struct {
			EventType string `json:"event_type"`
			DestIP    string `json:"dest_ip"`
			Alert     struct {
				SignatureID int `json:"signature_id"`
			} `json:"alert"`
			Anomaly struct {
				Event string `json:"event"`
			} `json:"anomaly"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		sid := rec.Alert.SignatureID
		switch {
		case rec.EventType == "anomaly" && rec.Anomaly.Event == "stream.ttl_evasion":
			sid = ttlEvasionEvent
		case rec.EventType != "alert":
			continue
		}
		dst, err := netip.ParseAddr(rec.DestIP)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: dest_ip: %w", path, n, err)
		}
		out[eveAlert{sid, dst}]++
	}
	return out, sc.Err()
}

// addEvasionAddrs gives client2 the targets' addresses; remove takes
// them away again.
func addEvasionAddrs(ctx context.Context, l *lab.Lab, targets []EvasionTarget) (remove func(), err error) {
	h := l.Host("client2")
	var added []netip.Addr
	remove = func() {
		for _, a := range added {
			_, _ = h.Run(context.Background(), "ip", "addr", "del", a.String()+"/32", "dev", "eth0")
		}
	}
	for _, t := range targets {
		if _, err := h.Run(ctx, "ip", "addr", "add", t.Addr.String()+"/32", "dev", "eth0"); err != nil {
			remove()
			return nil, err
		}
		added = append(added, t.Addr)
	}
	return remove, nil
}

// recorder is a listener on client2 that records, per connection,
// exactly the bytes its TCP stack delivered, up to the peer's FIN.
type recorder struct {
	ln   net.Listener
	done chan received
	quit chan struct{} // closed by close: nobody reads done any more
}

type received struct {
	local netip.Addr
	data  []byte
	err   error
}

// recorderLimit bounds what one connection may deliver.
const recorderLimit = 64 << 10

func startRecorder(h *lab.Node, port int) (*recorder, error) {
	var ln net.Listener
	if err := h.Do(func() (err error) { ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)); return }); err != nil {
		return nil, err
	}
	r := &recorder{ln: ln, done: make(chan received, 16), quit: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				data, err := io.ReadAll(io.LimitReader(c, recorderLimit))
				local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
				select {
				case r.done <- received{local, data, err}:
				case <-r.quit:
				}
			}()
		}
	}()
	return r, nil
}

// next returns what the next connection to local delivered, waiting at
// most timeout for it to end.
func (r *recorder) next(local netip.Addr, timeout time.Duration) ([]byte, error) {
	deadline := time.After(timeout)
	for {
		select {
		case got := <-r.done:
			if got.local != local {
				continue // a leftover of an earlier connection
			}
			if got.err != nil {
				return got.data, fmt.Errorf("client2 reading from %s: %w", local, got.err)
			}
			return got.data, nil
		case <-deadline:
			return nil, fmt.Errorf("client2 got no complete connection to %s within %s", local, timeout)
		}
	}
}

func (r *recorder) close() {
	r.ln.Close()
	close(r.quit)
}
