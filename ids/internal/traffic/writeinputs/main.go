// Command writeinputs writes the inputs of the IDS's comparison with
// Snort 3 (bench/ids): a pcap of the generated HTTP, DNS and TLS traffic
// (traffic.Mix), a pcap with no packets (for timing the rule loading
// alone), and for each rule count the content rules in Suricata's
// language (rampart) and in Snort 3's, over the same literals
// (traffic.ContentRules). It lives here because the generator is
// internal to ids; it knows nothing of the engines.
//
//	writeinputs -out DIR [-size 200MB] [-seed 1] [-rules 100,1000,10000]
//
// It prints the capture's packets and the bytes of its frames.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/datapath"
	"github.com/rampart-fw/rampart/ids/internal/traffic"
)

var (
	out       = flag.String("out", "", "directory to write into (created)")
	size      = flag.String("size", "200MB", "bytes of frames in the capture, with an optional suffix kB, MB or GB (powers of 1000)")
	seed      = flag.Uint64("seed", 1, "seed of the first chunk of the corpus")
	ruleCount = flag.String("rules", "100,1000,10000", "rule counts, comma-separated")
)

// Start is the capture's first timestamp.
var start = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("writeinputs: ")
	if *out == "" || flag.NArg() > 0 {
		log.Fatal("usage: writeinputs -out DIR [-size 200MB] [-seed N] [-rules 100,1000,10000]")
	}
	n, err := parseSize(*size)
	if err != nil {
		log.Fatalf("-size: %v", err)
	}
	var counts []int
	for _, f := range strings.Split(*ruleCount, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c <= 0 {
			log.Fatalf("-rules: %q is not a positive count", f)
		}
		counts = append(counts, c)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, c := range counts {
		suri, snort := traffic.ContentRules(c)
		write(fmt.Sprintf("rules-%d.rules", c), suri)
		write(fmt.Sprintf("rules-%d.snort.rules", c), snort)
	}
	empty, err := datapath.CreatePcap(filepath.Join(*out, "empty.pcap"), datapath.PcapWriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := empty.Close(); err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(*out, "capture.pcap")
	w, err := datapath.CreatePcap(path, datapath.PcapWriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	packets := 0
	total, err := traffic.Mix(n, *seed, start, func(f traffic.Frame) error {
		packets++
		ci := datapath.CaptureInfo{Timestamp: f.Time, Length: len(f.Data)}
		return w.WritePacket(f.Data, &ci)
	})
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	fmt.Printf("%s: %d packets, %d bytes of frames\n", path, packets, total)
}

func write(name, text string) {
	if err := os.WriteFile(filepath.Join(*out, name), []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
}

// parseSize reads a byte count such as 200MB, 1GB or 500000.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"KB", 1e3}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("want a size such as 200MB, not %q", s)
	}
	return int64(v * float64(mult)), nil
}
