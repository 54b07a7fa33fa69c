// Package eve writes the IDS's alerts and engine events as Suricata's EVE
// JSON (one record per line, Suricata's field names and JSON types, so
// that jq, Filebeat, Elastic and Splunk read them as they read
// Suricata's) and alerts as fast.log lines.
//
// It owns the record formats: the field names, the timestamp format
// ("2026-12-07T12:00:00.000123+0000": microseconds and a numeric zone
// without a colon, in UTC), JSON string escaping (bytes that are not
// UTF-8 are written as \u00XX, so every line is valid JSON), and the
// writers' buffering. It knows nothing of how alerts are found: package
// ids hands it Alert and Event values.
//
// An alert:
//
//	{"timestamp":"...","flow_id":N,"event_type":"alert","src_ip":"10.10.0.11","src_port":40001,
//	 "dest_ip":"203.0.113.80","dest_port":80,"proto":"TCP","app_proto":"http",
//	 "alert":{"action":"allowed","gid":1,"signature_id":1000001,"rev":2,"signature":"...",
//	 "category":"Web Application Attack","severity":1}}
//
// An engine event is Suricata's anomaly record: "event_type":"anomaly"
// and "anomaly":{"type":"stream","event":"stream.overlap_different_data",
// "policy":"bsd"} (type decode for IP reassembly, applayer with
// "layer":"proto_parser" for the parsers). flow_id is left out when there
// is no flow, the ports for protocols without them (ICMP, IP fragments);
// pcap_cnt, the number of the frame that raised an alert, is there when
// a frame did (not for what the end of a capture hands on).
package eve

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rampart-fw/rampart/flow"
	"github.com/rampart-fw/rampart/ids"
	"github.com/rampart-fw/rampart/ipproto"
)

// TimeFormat is Suricata's timestamp layout.
const TimeFormat = "2006-01-02T15:04:05.000000-0700"

// AppendAlert appends a's EVE record, without the newline.
func AppendAlert(dst []byte, a *ids.Alert) []byte {
	dst = appendHead(dst, a.Time, a.FlowID, "alert", a.Key, "", a.Frame)
	if a.ICMP {
		dst = append(dst, `,"icmp_type":`...)
		dst = strconv.AppendUint(dst, uint64(a.ICMPType), 10)
		dst = append(dst, `,"icmp_code":`...)
		dst = strconv.AppendUint(dst, uint64(a.ICMPCode), 10)
	}
	dst = appendApp(dst, a.App.String())
	r := a.Rule
	action := "allowed"
	if a.Blocked {
		action = "blocked"
	}
	dst = append(dst, `,"alert":{"action":"`...)
	dst = append(dst, action...)
	dst = append(dst, `","gid":`...)
	dst = strconv.AppendUint(dst, uint64(r.GID), 10)
	dst = append(dst, `,"signature_id":`...)
	dst = strconv.AppendUint(dst, uint64(r.SID), 10)
	dst = append(dst, `,"rev":`...)
	dst = strconv.AppendUint(dst, uint64(r.Rev), 10)
	dst = append(dst, `,"signature":`...)
	dst = AppendString(dst, r.Msg)
	dst = append(dst, `,"category":`...)
	dst = AppendString(dst, r.Category)
	dst = append(dst, `,"severity":`...)
	dst = strconv.AppendInt(dst, int64(r.Priority), 10)
	return append(dst, "}}"...)
}

// AppendEvent appends e's EVE anomaly record, without the newline.
func AppendEvent(dst []byte, e *ids.Event) []byte {
	dst = appendHead(dst, e.Time, e.FlowID, "anomaly", e.Key, e.App.String(), 0)
	dst = append(dst, `,"anomaly":{"type":"`...)
	dst = append(dst, e.Layer.String()...)
	dst = append(dst, `","event":`...)
	dst = AppendString(dst, EventName(e))
	if e.Layer == ids.LayerAppLayer {
		dst = append(dst, `,"layer":"proto_parser"`...)
	}
	if e.Policy != "" {
		dst = append(dst, `,"policy":`...)
		dst = AppendString(dst, e.Policy)
	}
	return append(dst, "}}"...)
}

// EventName prefixes the part's name of the event with the part, as
// Suricata's event names are: "stream.overlap_different_data",
// "defrag.tiny_fragment", "http.cl_and_te".
func EventName(e *ids.Event) string {
	switch e.Layer {
	case ids.LayerDecode:
		return "defrag." + e.Name
	case ids.LayerStream:
		return "stream." + e.Name
	}
	if app := e.App.String(); app != "" {
		return app + "." + e.Name
	}
	return "applayer." + e.Name
}

// appendHead appends the common part of a record: its opening brace up
// to app_proto (which an alert writes itself, after the ICMP fields).
func appendHead(dst []byte, t time.Time, flowID uint64, typ string, k flow.Key, app string, frame uint64) []byte {
	dst = append(dst, `{"timestamp":"`...)
	dst = t.UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, '"')
	if flowID != 0 {
		dst = append(dst, `,"flow_id":`...)
		dst = strconv.AppendUint(dst, flowID, 10)
	}
	if frame != 0 {
		dst = append(dst, `,"pcap_cnt":`...)
		dst = strconv.AppendUint(dst, frame, 10)
	}
	dst = append(dst, `,"event_type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","src_ip":"`...)
	dst = appendAddr(dst, k.Src.Addr())
	dst = append(dst, '"')
	ports := k.Proto.HasPorts() && (k.Src.Port() != 0 || k.Dst.Port() != 0)
	if ports {
		dst = append(dst, `,"src_port":`...)
		dst = strconv.AppendUint(dst, uint64(k.Src.Port()), 10)
	}
	dst = append(dst, `,"dest_ip":"`...)
	dst = appendAddr(dst, k.Dst.Addr())
	dst = append(dst, '"')
	if ports {
		dst = append(dst, `,"dest_port":`...)
		dst = strconv.AppendUint(dst, uint64(k.Dst.Port()), 10)
	}
	dst = append(dst, `,"proto":"`...)
	dst = appendProto(dst, k.Proto)
	dst = append(dst, '"')
	return appendApp(dst, app)
}

// appendApp appends app_proto, when the flow's protocol is known.
func appendApp(dst []byte, app string) []byte {
	if app != "" {
		dst = append(dst, `,"app_proto":"`...)
		dst = append(dst, app...)
		dst = append(dst, '"')
	}
	return dst
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return dst
	}
	return a.Unmap().AppendTo(dst)
}

// appendProto writes the protocol as Suricata names it: TCP, UDP, ICMP,
// IPv6-ICMP, SCTP, else its number.
func appendProto(dst []byte, p ipproto.Proto) []byte {
	switch p {
	case ipproto.TCP:
		return append(dst, "TCP"...)
	case ipproto.UDP:
		return append(dst, "UDP"...)
	case ipproto.ICMP:
		return append(dst, "ICMP"...)
	case ipproto.ICMPv6:
		return append(dst, "IPv6-ICMP"...)
	case ipproto.SCTP:
		return append(dst, "SCTP"...)
	}
	return strconv.AppendUint(dst, uint64(p), 10)
}

// AppendString appends s as a JSON string. Bytes that are not UTF-8 are
// written as \u00XX (the byte as a code point), so the result is always
// valid JSON, whatever a signature's msg holds.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n > 1 {
				dst = append(dst, s[i:i+n]...)
				i += n
				continue
			}
		}
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		i++
	}
	return append(dst, '"')
}

// AppendFast appends a's fast.log line, without the newline:
//
//	12/07/2026-12:00:00.000123  [**] [1:1000001:2] msg [**] [Classification: ...] [Priority: 1] {TCP} 10.10.0.11:40001 -> 203.0.113.80:80
//
// with "[Drop] " before the first [**] when the packet was blocked, as
// Suricata writes it in IPS mode.
func AppendFast(dst []byte, a *ids.Alert) []byte {
	r := a.Rule
	dst = a.Time.UTC().AppendFormat(dst, "01/02/2006-15:04:05.000000")
	dst = append(dst, "  "...)
	if a.Blocked {
		dst = append(dst, "[Drop] "...)
	}
	dst = append(dst, "[**] ["...)
	dst = strconv.AppendUint(dst, uint64(r.GID), 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, uint64(r.SID), 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, uint64(r.Rev), 10)
	dst = append(dst, "] "...)
	dst = append(dst, r.Msg...)
	dst = append(dst, " [**] [Classification: "...)
	if r.Category == "" {
		dst = append(dst, "(null)"...)
	} else {
		dst = append(dst, r.Category...)
	}
	dst = append(dst, "] [Priority: "...)
	dst = strconv.AppendInt(dst, int64(r.Priority), 10)
	dst = append(dst, "] {"...)
	dst = appendProto(dst, a.Key.Proto)
	dst = append(dst, "} "...)
	dst = appendEnd(dst, a.Key.Src, a.Key.Proto)
	dst = append(dst, " -> "...)
	return appendEnd(dst, a.Key.Dst, a.Key.Proto)
}

func appendEnd(dst []byte, ap netip.AddrPort, p ipproto.Proto) []byte {
	dst = appendAddr(dst, ap.Addr())
	if p.HasPorts() {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(ap.Port()), 10)
	}
	return dst
}

// Writer writes records to an io.Writer, one per line: EVE JSON for
// alerts and events, or, made by NewFastWriter, fast.log lines for
// alerts. It implements ids.Output and is safe for concurrent use; lines
// are buffered until Flush or Close.
type Writer struct {
	mu   sync.Mutex
	w    *bufio.Writer // guarded by mu
	c    io.Closer
	line []byte // guarded by mu
	err  error  // guarded by mu: the first write error; later writes are dropped
	fast bool
	// Lines counts the records written.
	lines uint64 // guarded by mu
}

// NewWriter returns an EVE JSON writer to w; if w is an io.Closer, Close
// closes it.
func NewWriter(w io.Writer) *Writer {
	ew := &Writer{w: bufio.NewWriterSize(w, 64<<10), line: make([]byte, 0, 1024)}
	if c, ok := w.(io.Closer); ok {
		ew.c = c
	}
	return ew
}

// NewFastWriter returns a writer of fast.log lines (alerts only).
func NewFastWriter(w io.Writer) *Writer {
	ew := NewWriter(w)
	ew.fast = true
	return ew
}

// Alert implements ids.Output.
func (w *Writer) Alert(a ids.Alert) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fast {
		w.line = AppendFast(w.line[:0], &a)
	} else {
		w.line = AppendAlert(w.line[:0], &a)
	}
	w.write()
}

// Event implements ids.Output; a fast.log writer ignores events.
func (w *Writer) Event(e ids.Event) {
	if w.fast {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.line = AppendEvent(w.line[:0], &e)
	w.write()
}

func (w *Writer) write() {
	if w.err != nil {
		return
	}
	w.line = append(w.line, '\n')
	if _, err := w.w.Write(w.line); err != nil {
		w.err = err
		return
	}
	w.lines++
}

// Lines returns the number of records written.
func (w *Writer) Lines() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Flush writes the buffered lines, and returns the first write error.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Close flushes and closes the underlying writer when it is a Closer.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.c != nil {
		if cerr := w.c.Close(); err == nil {
			err = cerr
		}
		w.c = nil
	}
	return err
}
