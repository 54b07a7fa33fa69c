package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/gateway"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newInspectCommand) }

func newInspectCommand(a *app) *cobra.Command {
	var polPath, outPath, checksums string
	var inside []string
	var top int
	cmd := &cobra.Command{
		Use:   "inspect --policy FILE CAPTURE",
		Short: "Run the firewall pipeline offline over a pcap or pcapng file",
		Long: `Run the gateway's pipeline (the same code as 'rampart gateway') over a pcap or
pcapng capture, on the capture's own clock, and print how many frames each
rule and each verdict got and the flows that were denied. --out writes the
frames that would have been forwarded to a pcap file. A capture does not say
which interface a frame came in on: frames whose source address is in an
--inside prefix count as coming from lan (outgoing), the rest from wan.
A progress line is shown on a terminal.

Checksums are verified as the live gateway verifies them (gateway.checksums in
--config: verify or ignore), so a frame with a wrong one is dropped before it
reaches connection tracking. A capture taken on a host that sends with
checksum offload shows its outgoing TCP and UDP checksums unfinished (the
field holds the pseudo-header sum): --checksums offload takes those for
offloaded and still drops a checksum that is wrong otherwise. Anyone can
forge that value, so it is for such captures, never the live gateway.

A capture whose last record is cut short (the file ends in the middle of a
record, as when tcpdump is killed) is read up to that record: the frames
before it are reported and written to --out, and a warning on standard error
names the offset of the cut record. A capture with no packets says so.

Exit status: 0, also after the warning about a record cut short; 1 when the
capture is malformed elsewhere or cannot be read or written; 2 for a usage
error (a missing or unreadable policy, an unknown capture format).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if polPath == "" {
				return usageErrorf("--policy FILE is required")
			}
			pol, err := loadPolicy(polPath)
			if err != nil {
				return err
			}
			var prefixes []netip.Prefix
			for _, s := range inside {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					return usageErrorf("--inside %q: want a prefix such as 10.0.0.0/8", s)
				}
				prefixes = append(prefixes, p)
			}
			src, err := datapath.OpenCapture(args[0])
			if err != nil {
				return &usageError{err}
			}
			defer src.Close()
			var errs srcpos.List
			frags := a.cfg.Gateway.Fragments.check(&errs)
			ct, mode := a.cfg.Gateway.tracking(&errs)
			gd := a.cfg.Gateway.Guard.check(&errs)
			if err := errs.Err(); err != nil {
				return &usageError{err}
			}
			if checksums != "" {
				if mode, err = gateway.ParseChecksumMode(checksums); err != nil {
					return usageErrorf("--checksums: %v", err)
				}
			}
			cfg := gateway.InspectConfig{Inside: prefixes, Engine: gateway.Config{Fragments: frags, Conntrack: ct, Checksums: mode, Guard: gd}}
			var out *datapath.PcapWriter
			if outPath != "" {
				if out, err = datapath.CreatePcap(outPath, datapath.PcapWriterOptions{LinkType: firstLinkType(args[0])}); err != nil {
					return err
				}
				defer out.Close()
				cfg.Out = out
			}
			size := int64(0)
			if fi, err := os.Stat(args[0]); err == nil {
				size = fi.Size()
			}
			if isTerminal(os.Stderr) {
				start := time.Now()
				cfg.Progress = func(frames, bytes uint64) {
					pct := 100.0
					if size > 0 {
						pct = min(100, float64(bytes)*100/float64(size))
					}
					fmt.Fprintf(os.Stderr, "\r%5.1f%%  %d frames  %s", pct, frames, time.Since(start).Round(time.Millisecond))
				}
			}
			cut := &cutShort{src: src}
			res, err := gateway.Inspect(cmd.Context(), cut, pol, cfg)
			if cfg.Progress != nil {
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			if out != nil {
				// A write error surfaces here, not in a deferred Close.
				if err := out.Close(); err != nil {
					return err
				}
			}
			printInspect(cmd, res, top)
			if cut.err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: the capture ends in the middle of the record at offset %d (%v): reported the %d frames before it\n",
					cut.err.File, cut.err.Offset, errors.Unwrap(cut.err), res.Frames)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&polPath, "policy", "", "policy file (required)")
	f.StringVar(&outPath, "out", "", "write the frames that would have been forwarded to this pcap file")
	f.StringArrayVar(&inside, "inside", nil, "inside prefix; repeatable (default: 10/8, 172.16/12, 192.168/16, fc00::/7)")
	f.IntVar(&top, "top", 20, "number of denied flows to list")
	f.StringVar(&checksums, "checksums", "", "verify, offload (a capture taken on a sender with checksum offload) or ignore (default: gateway.checksums in --config, else verify)")
	return cmd
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
