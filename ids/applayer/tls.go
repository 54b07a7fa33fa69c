package applayer

import (
	"encoding/binary"

	"github.com/rampart-fw/rampart/ids/buffer"
)

// TLS: records are walked in both directions (their headers checked,
// their payloads skipped), and the client's first handshake message, the
// ClientHello, is reassembled across records and chunks (RFC 8446 5.1:
// handshake messages may be split over records and records over
// segments) and parsed for tls.sni. Nothing else is decrypted or kept.

const (
	recChangeCipherSpec = 20
	recAlert            = 21
	recHandshake        = 22
	recApplicationData  = 23
	recHeartbeat        = 24

	hsClientHello = 1
	hsServerHello = 2

	extServerName        = 0
	extSupportedVersions = 43
)

// tlsDir is one direction's record state.
type tlsDir struct {
	hdr     [5]byte
	hdrN    int
	typ     byte
	remain  int    // payload bytes of the current record still to come
	hs      []byte // the ClientHello so far, when it spans records or chunks
	helloOK bool   // the ClientHello was handled (or given up)
	start   uint64 // stream offset of the current record
	hello   uint64 // stream offset of the record where the ClientHello starts
}

// tlsStream walks the records of one direction.
func (w *Worker) tlsStream(f *Flow, d int, data []byte, h Handler) {
	t := &f.tls[d]
	for len(data) > 0 && !f.disabled[d] {
		if t.remain == 0 {
			if t.hdrN == 0 {
				t.start = f.off[d]
			}
			n := gather(t.hdr[:], &t.hdrN, data)
			data = data[n:]
			f.off[d] += uint64(n)
			if t.hdrN < len(t.hdr) {
				break
			}
			t.hdrN = 0
			t.typ = t.hdr[0]
			t.remain = int(binary.BigEndian.Uint16(t.hdr[3:]))
			if t.typ < recChangeCipherSpec || t.typ > recHeartbeat || t.hdr[1] != 3 || t.hdr[2] > 4 ||
				t.remain > maxTLSRecord {
				w.event(f, h, d, KindTLSBadRecord, t.start, true)
				break
			}
			continue
		}
		n := min(len(data), t.remain)
		payload := data[:n]
		data = data[n:]
		t.remain -= n
		f.off[d] += uint64(n)
		if d == 0 && !t.helloOK {
			w.tlsHelloData(f, d, payload, h)
		}
	}
	f.off[d] += uint64(len(data))
}

// tlsHelloData takes the client's handshake bytes until its first
// message, the ClientHello, is whole.
func (w *Worker) tlsHelloData(f *Flow, d int, b []byte, h Handler) {
	t := &f.tls[d]
	if t.typ != recHandshake {
		// Data before the handshake: not a TLS client.
		t.helloOK = true
		w.event(f, h, d, KindTLSMalformed, t.start, true)
		return
	}
	if len(t.hs) == 0 {
		t.hello = t.start
	}
	if len(t.hs) == 0 && len(b) >= 4 {
		// The common case, a ClientHello whole in one record and chunk:
		// parsed in place.
		if n := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3])); b[0] == hsClientHello && n <= len(b) {
			w.clientHello(f, d, b[4:n], h)
			return
		}
	}
	if !f.grow(&t.hs, len(b), f.p.cfg.MaxClientHello+4) {
		t.helloOK = true
		if len(t.hs)+len(b) > f.p.cfg.MaxClientHello+4 {
			w.event(f, h, d, KindTLSHelloTooLarge, t.hello, true)
		} else {
			w.event(f, h, d, KindMemcap, t.hello, true)
		}
		return
	}
	t.hs = append(t.hs, b...)
	if len(t.hs) < 4 {
		return
	}
	if t.hs[0] != hsClientHello {
		t.helloOK = true
		w.event(f, h, d, KindTLSMalformed, t.hello, true)
		return
	}
	n := 4 + (int(t.hs[1])<<16 | int(t.hs[2])<<8 | int(t.hs[3]))
	if n > f.p.cfg.MaxClientHello+4 {
		t.helloOK = true
		w.event(f, h, d, KindTLSHelloTooLarge, t.hello, true)
		return
	}
	if len(t.hs) >= n {
		w.clientHello(f, d, t.hs[4:n], h)
		t.hs = t.hs[:0]
	}
}

// clientHello parses a ClientHello's body and hands its transaction:
// tls.sni from the server_name extension's first host_name. A malformed
// hello is reported and ends the direction's parsing, but what was read
// before the fault (the name, usually) is still handed on.
func (w *Worker) clientHello(f *Flow, d int, b []byte, h Handler) {
	t := &f.tls[d]
	t.helloOK = true
	var info TLSInfo
	var sni []byte
	hasSNI, ok := false, false
	func() {
		if len(b) < 2+32+1 {
			return
		}
		info.Version = binary.BigEndian.Uint16(b)
		p := 2 + 32
		sid := int(b[p])
		p += 1 + sid
		if sid > 32 || p+2 > len(b) {
			return
		}
		cs := int(binary.BigEndian.Uint16(b[p:]))
		p += 2 + cs
		if cs%2 != 0 || p+1 > len(b) {
			return
		}
		p += 1 + int(b[p])
		if p > len(b) {
			return
		}
		if p == len(b) {
			ok = true // no extensions
			return
		}
		if p+2 > len(b) {
			return
		}
		el := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		if p+el != len(b) {
			return
		}
		for p < len(b) {
			if p+4 > len(b) {
				return
			}
			typ := binary.BigEndian.Uint16(b[p:])
			l := int(binary.BigEndian.Uint16(b[p+2:]))
			p += 4
			if p+l > len(b) {
				return
			}
			ext := b[p : p+l]
			p += l
			switch typ {
			case extServerName:
				if hasSNI {
					return // a second server_name: RFC 8446 4.2 forbids it
				}
				name, found, good := parseServerName(ext)
				if !good {
					return
				}
				sni, hasSNI = name, found
			case extSupportedVersions:
				if len(ext) < 1 || int(ext[0])+1 != len(ext) || ext[0]%2 != 0 {
					return
				}
				for i := 1; i+1 < len(ext); i += 2 {
					if binary.BigEndian.Uint16(ext[i:]) == 0x0304 {
						info.SupportsTLS13 = true
					}
				}
			}
		}
		ok = true
	}()
	if !ok {
		w.event(f, h, d, KindTLSMalformed, t.hello, true)
	}
	if info.Version == 0 && !hasSNI {
		return
	}
	w.set.Reset()
	if hasSNI {
		w.set.Put(buffer.TLSSNI, sni)
	}
	w.tx = Tx{App: buffer.AppTLS, Dir: buffer.ToServer, Seq: f.seq, Off: t.hello, TLS: info}
	f.seq++
	w.deliver(f, h)
}

// parseServerName returns the first host_name of a server_name
// extension (RFC 6066 3).
func parseServerName(ext []byte) (name []byte, found, ok bool) {
	if len(ext) == 0 {
		return nil, false, true // a server's empty acknowledgement
	}
	if len(ext) < 2 || int(binary.BigEndian.Uint16(ext))+2 != len(ext) {
		return nil, false, false
	}
	for p := 2; p < len(ext); {
		if p+3 > len(ext) {
			return nil, false, false
		}
		typ := ext[p]
		l := int(binary.BigEndian.Uint16(ext[p+1:]))
		p += 3
		if p+l > len(ext) {
			return nil, false, false
		}
		if typ == 0 && !found {
			name, found = ext[p:p+l], true
		}
		p += l
	}
	return name, found, true
}

// tlsGap skips lost bytes inside a record's payload; elsewhere, or in
// the middle of the ClientHello, the direction is lost.
func (w *Worker) tlsGap(f *Flow, d int, n uint64, h Handler) {
	t := &f.tls[d]
	if t.remain == 0 || n > uint64(t.remain) || d == 0 && !t.helloOK {
		w.event(f, h, d, KindGap, f.off[d], true)
		return
	}
	t.remain -= int(n)
}
