package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newInspectCommand) }

func newInspectCommand(a *app) *cobra.Command {
	var polPath, outPath, checksums, evePath, cpuProfile string
	var inside, rulePaths []string
	var top int
	cmd := &cobra.Command{
		Use:   "inspect --rules FILE [--config FILE] [--eve OUT.json] [--policy FILE] CAPTURE",
		Short: "Run the IDS and the firewall pipeline offline over a pcap or pcapng file",
		Long: `Inspect a pcap or pcapng capture offline, on the capture's own clock.

With --rules (or ids.rules in --config), the intrusion detection engine reads
the capture: IP reassembly and TCP stream reassembly as each destination's
operating system reassembles (ids.default and ids.host_policies), HTTP, DNS
and TLS parsed, and the Suricata-language rules of FILE (repeatable) run on
packets, reassembled streams and application buffers. Alerts and engine
events (overlapping fragments or segments with different data, gaps,
evasion attempts) go to --eve (or ids.eve) as Suricata's EVE JSON, one
record per line; the summary lists the flows, the alerts by signature with
their first lines in fast.log form, and the events. A rule the engine does
not understand is named with its line and reason on standard error, and the
rest load. Checksums are not checked (a capture taken on a sender with
checksum offload shows them unfinished, as Suricata's automatic mode
assumes); --checksums verify leaves packets with a wrong one out, and
offload takes an unfinished TCP or UDP checksum for good.

With --policy, the gateway's firewall pipeline (the same code as 'rampart
gateway') judges the capture too, and the summary gives how many frames each
rule and each verdict got and the flows that were denied. --out writes the
frames that would have been forwarded to a pcap file. A capture does not say
which interface a frame came in on: frames whose source address is in an
--inside prefix count as coming from lan (outgoing), the rest from wan.
There, checksums are verified as the live gateway verifies them
(gateway.checksums in --config: verify or ignore), so a frame with a wrong
one is dropped before it reaches connection tracking; --checksums offload
takes unfinished TCP and UDP checksums for offloaded and still drops a
checksum that is wrong otherwise. Anyone can forge that value, so it is for
such captures, never the live gateway.

Captures of Ethernet, Linux cooked capture (SLL and SLL2, what 'tcpdump -i
any' writes), raw IP, BSD loopback (NULL and LOOP), PPP and Cisco HDLC are
read, and pcapng files with several interfaces of different link types. A
progress bar is shown when standard output and standard error are
terminals.

A capture whose last record is cut short (the file ends in the middle of a
record, as when tcpdump is killed) is read up to that record: the frames
before it are reported and written to --out, and a warning on standard error
names the offset of the cut record. A capture with no packets says so.

Exit status: 0, also after the warning about a record cut short and with
rules skipped; 1 when the capture is malformed elsewhere or cannot be read
or written; 2 for a usage error (neither --rules nor --policy, a missing or
unreadable policy or rule file, a bad ids section, an unknown capture
format).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			idsCfg := a.cfg.IDS
			if fl.Changed("rules") {
				idsCfg.Rules = nil
				for _, r := range rulePaths {
					idsCfg.Rules = append(idsCfg.Rules, config.FromFlag(r, "--rules"))
				}
			}
			override(fl, "eve", &idsCfg.EVE, evePath)
			runIDS := len(idsCfg.Rules) > 0
			if polPath == "" && !runIDS {
				return usageErrorf("--rules FILE or --policy FILE is required")
			}
			if _, err := os.Stat(args[0]); err != nil {
				return &usageError{err}
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			var cut *datapath.FileError
			if polPath != "" {
				c, err := inspectPolicy(cmd, a, args[0], polPath, outPath, checksums, inside, top)
				if err != nil {
					return err
				}
				cut = c
			}
			if runIDS {
				if polPath != "" {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				c, err := inspectIDS(cmd, &idsCfg, args[0], checksums, top)
				if err != nil {
					return err
				}
				cut = c
			}
			if cut != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: the capture ends in the middle of the record at offset %d (%v): reported the %d frames before it\n",
					cut.File, cut.Offset, errors.Unwrap(cut), cut.Packets)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&rulePaths, "rules", nil, "Suricata-language rule file; repeatable (ids.rules)")
	f.StringVar(&evePath, "eve", "", "write alerts and engine events to this file as EVE JSON (ids.eve)")
	f.StringVar(&polPath, "policy", "", "firewall policy file: run the gateway's pipeline too (required without --rules)")
	f.StringVar(&outPath, "out", "", "with --policy: write the frames that would have been forwarded to this pcap file")
	f.StringArrayVar(&inside, "inside", nil, "with --policy: inside prefix; repeatable (default: 10/8, 172.16/12, 192.168/16, fc00::/7)")
	f.IntVar(&top, "top", 20, "number of denied flows, and of alerts in fast.log form, to list")
	f.StringVar(&checksums, "checksums", "", "verify, offload (a capture taken on a sender with checksum offload) or ignore (default: the IDS ignores them; the firewall takes gateway.checksums in --config, else verify)")
	// For measuring the engines on a capture (bench/ids): the rules'
	// loading and the run, in pprof's format.
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the inspection to this file")
	f.MarkHidden("cpuprofile")
	return cmd
}

// startCPUProfile starts profiling the CPU into the file at path; stop
// ends the profile and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// inspectPolicy runs the firewall pipeline over the capture and prints
// its summary; it returns the reader's error for a last record cut
// short.
func inspectPolicy(cmd *cobra.Command, a *app, path, polPath, outPath, checksums string, inside []string, top int) (*datapath.FileError, error) {
	pol, err := loadPolicy(polPath)
	if err != nil {
		return nil, err
	}
	var prefixes []netip.Prefix
	for _, s := range inside {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, usageErrorf("--inside %q: want a prefix such as 10.0.0.0/8", s)
		}
		prefixes = append(prefixes, p)
	}
	src, err := datapath.OpenCapture(path)
	if err != nil {
		return nil, &usageError{err}
	}
	defer src.Close()
	var errs srcpos.List
	frags, fragFwd := a.cfg.Gateway.Fragments.check(&errs)
	ct, mode := a.cfg.Gateway.tracking(&errs)
	gd := a.cfg.Gateway.Guard.check(&errs)
	if err := errs.Err(); err != nil {
		return nil, &usageError{err}
	}
	if checksums != "" {
		if mode, err = gateway.ParseChecksumMode(checksums); err != nil {
			return nil, usageErrorf("--checksums: %v", err)
		}
	}
	cfg := gateway.InspectConfig{Inside: prefixes, Engine: gateway.Config{Fragments: frags, FragmentForward: fragFwd, Conntrack: ct, Checksums: mode, Guard: gd}}
	var out *datapath.PcapWriter
	if outPath != "" {
		if out, err = datapath.CreatePcap(outPath, datapath.PcapWriterOptions{LinkType: firstLinkType(path)}); err != nil {
			return nil, err
		}
		defer out.Close()
		cfg.Out = out
	}
	bar := newProgress(path, "frames")
	if bar != nil {
		cfg.Progress = bar.update
	}
	cut := &cutShort{src: src}
	res, err := gateway.Inspect(cmd.Context(), cut, pol, cfg)
	bar.done()
	if err != nil {
		return nil, err
	}
	if out != nil {
		// A write error surfaces here, not in a deferred Close.
		if err := out.Close(); err != nil {
			return nil, err
		}
	}
	printInspect(cmd, res, top)
	return cut.err, nil
}

// progress draws a progress bar on standard error while a capture is
// read, when standard output and standard error are terminals.
type progress struct {
	w     io.Writer
	size  int64
	what  string
	start time.Time
}

// newProgress returns the bar for the capture at path, or nil when
// there is no terminal to draw it on.
func newProgress(path, what string) *progress {
	if !isTerminal(os.Stdout) || !isTerminal(os.Stderr) {
		return nil
	}
	p := &progress{w: os.Stderr, what: what, start: time.Now()}
	if fi, err := os.Stat(path); err == nil {
		p.size = fi.Size()
	}
	return p
}

// progressWidth is the bar's width in characters.
const progressWidth = 30

func (p *progress) update(n, bytes uint64) {
	pct := 100.0
	if p.size > 0 {
		pct = min(100, float64(bytes)*100/float64(p.size))
	}
	fill := int(pct * progressWidth / 100)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", progressWidth-fill)
	fmt.Fprintf(p.w, "\r[%s] %5.1f%%  %d %s  %s", bar, pct, n, p.what, time.Since(p.start).Round(time.Second))
}

// done ends the bar's line.
func (p *progress) done() {
	if p != nil {
		fmt.Fprintln(p.w)
	}
}

// cutShort is the capture up to a record cut short: it ends there as if
// the file ended, and keeps the reader's error, which names the offset.
type cutShort struct {
	src datapath.Source
	err *datapath.FileError
}

func (c *cutShort) Next() ([]byte, datapath.CaptureInfo, error) {
	frame, ci, err := c.src.Next()
	var fe *datapath.FileError
	if err != nil && errors.Is(err, datapath.ErrTruncated) && errors.As(err, &fe) {
		c.err = fe
		return nil, ci, io.EOF
	}
	return frame, ci, err
}

func printInspect(cmd *cobra.Command, res *gateway.InspectResult, top int) {
	out := cmd.OutOrStdout()
	if res.Frames == 0 {
		fmt.Fprintln(out, "0 frames: no packets in the capture")
		return
	}
	fmt.Fprintf(out, "%d frames (%d bytes), %d forwarded, from %s to %s\n\n", res.Frames, res.Bytes, res.Forwarded,
		res.First.UTC().Format(time.RFC3339Nano), res.Last.UTC().Format(time.RFC3339Nano))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tLINE\tNEW CONNECTIONS")
	for _, h := range res.Rules {
		if h.Hits == 0 {
			continue
		}
		line := "-"
		if h.Line > 0 {
			line = fmt.Sprint(h.Line)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", h.Text, line, h.Hits)
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERDICT/REASON\tFRAMES")
	for _, k := range sortedKeys(res.Counts) {
		fmt.Fprintf(tw, "%s\t%d\n", k, res.Counts[k])
	}
	tw.Flush()
	if len(res.Denied) > 0 {
		fmt.Fprintf(out, "\nDenied flows (%d", len(res.Denied))
		if res.DeniedOverflow > 0 {
			fmt.Fprintf(out, ", and %d packets of flows beyond the limit", res.DeniedOverflow)
		}
		fmt.Fprintln(out, "):")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FLOW\tDIRECTION\tVERDICT\tREASON\tPACKETS")
		for i, d := range res.Denied {
			if i == top {
				break
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", d.Flow, d.Dir, d.Verdict, d.Reason, d.Packets)
		}
		tw.Flush()
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// firstLinkType returns the link type of a capture's first frame: the
// forwarded frames are written with it.
func firstLinkType(path string) datapath.LinkType {
	src, err := datapath.OpenCapture(path)
	if err != nil {
		return datapath.LinkTypeEthernet
	}
	defer src.Close()
	if _, ci, err := src.Next(); err == nil {
		return ci.LinkType
	}
	return datapath.LinkTypeEthernet
}
