package server

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rampart-fw/rampart/clock"
	"github.com/rampart-fw/rampart/dns/wire"
)

// TestSipHash24 checks the reference vectors of the SipHash paper (key
// 00..0f, message 00..n-1), one for every length of the final block.
func TestSipHash24(t *testing.T) {
	want := []string{
		"310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
		"b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
		"6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
		"fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
	}
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	msg := make([]byte, len(want))
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, w := range want {
		var got [8]byte
		h := sipHash24(&key, msg[:n])
		for i := range got {
			got[i] = byte(h >> (8 * i))
		}
		if hex.EncodeToString(got[:]) != w {
			t.Errorf("length %d: %x, want %s", n, got, w)
		}
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServerCookieRFC9018 reproduces the server cookies of RFC 9018
// Appendix A: IPv4 and IPv6 clients, a first cookie and renewed ones.
func TestServerCookieRFC9018(t *testing.T) {
	tests := []struct {
		name, secret, client, ip string
		ts                       uint32
		want                     string
	}{
		{"A.1 new cookie", "e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100", 1559731985, "010000005cf79f111f8130c3eee29480"},
		{"A.2 renewed", "e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100", 1559734385, "010000005cf7a871d4a564a1442aca77"},
		{"A.3 other client", "e5e973e5a6b2a43f48e7dc849e37bfcf", "fc93fc62807ddb86", "203.0.113.203", 1559734700, "010000005cf7a9acf73a7810aca2381e"},
		{"A.4 IPv6, new secret", "445536bcd2513298075a5d379663c962", "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961, "010000005cf7c609a6bb79d16625507a"},
		{"A.1 IPv4-mapped is IPv4", "e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "::ffff:198.51.100.100", 1559731985, "010000005cf79f111f8130c3eee29480"},
	}
	for _, tt := range tests {
		var secret [16]byte
		var cc [8]byte
		copy(secret[:], unhex(t, tt.secret))
		copy(cc[:], unhex(t, tt.client))
		got := ServerCookie(secret, cc, netip.MustParseAddr(tt.ip), tt.ts)
		if hex.EncodeToString(got[:]) != tt.want {
			t.Errorf("%s: %x, want %s", tt.name, got, tt.want)
		}
	}
}

// TestCookieVerdict runs the RFC 9018 examples and the edge cases of RFC
// 7873 §5.2 through the verdict: what is proven and what goes back.
func TestCookieVerdict(t *testing.T) {
	const (
		secretA = "e5e973e5a6b2a43f48e7dc849e37bfcf"
		a1      = "2464c4abcf10c957010000005cf79f111f8130c3eee29480"
	)
	v4 := netip.MustParseAddr("198.51.100.100")
	tests := []struct {
		name      string
		prev, cur string
		client    netip.Addr
		now       int64
		cookie    string
		found     bool
		want      CookieVerdict
		reply     string // "": fresh, not checked beyond the client cookie
	}{
		{name: "no option", cur: secretA, client: v4, now: 1559731985, want: CookieNone},
		{name: "A.1 client only", cur: secretA, client: v4, now: 1559731985, cookie: "2464c4abcf10c957", found: true, want: CookieClientOnly, reply: a1},
		{name: "A.2 valid, 40 minutes old: renewed", cur: secretA, client: v4, now: 1559734385, cookie: a1, found: true, want: CookieValid,
			reply: "2464c4abcf10c957010000005cf7a871d4a564a1442aca77"},
		{name: "valid, 10 minutes old: echoed", cur: secretA, client: v4, now: 1559731985 + 600, cookie: a1, found: true, want: CookieValid, reply: a1},
		{name: "valid, exactly half an hour: echoed", cur: secretA, client: v4, now: 1559731985 + 1800, cookie: a1, found: true, want: CookieValid, reply: a1},
		{name: "valid, exactly an hour", cur: secretA, client: v4, now: 1559731985 + 3600, cookie: a1, found: true, want: CookieValid},
		{name: "expired", cur: secretA, client: v4, now: 1559731985 + 3601, cookie: a1, found: true, want: CookieInvalid},
		{name: "5 minutes ahead", cur: secretA, client: v4, now: 1559731985 - 300, cookie: a1, found: true, want: CookieValid, reply: a1},
		{name: "too far ahead", cur: secretA, client: v4, now: 1559731985 - 301, cookie: a1, found: true, want: CookieInvalid},
		{name: "other address", cur: secretA, client: netip.MustParseAddr("198.51.100.101"), now: 1559731985, cookie: a1, found: true, want: CookieInvalid},
		{name: "forged hash", cur: secretA, client: v4, now: 1559731985, cookie: "2464c4abcf10c957010000005cf79f111f8130c3eee29481", found: true, want: CookieInvalid},
		{name: "other version", cur: secretA, client: v4, now: 1559731985, cookie: "2464c4abcf10c957020000005cf79f111f8130c3eee29480", found: true, want: CookieInvalid},
		{name: "8-byte server cookie", cur: secretA, client: v4, now: 1559731985, cookie: "2464c4abcf10c9570102030405060708", found: true, want: CookieInvalid},
		{name: "32-byte server cookie", cur: secretA, client: v4, now: 1559731985, cookie: "2464c4abcf10c957" + strings.Repeat("ab", 32), found: true, want: CookieInvalid},
		{name: "A.3 reserved bits set, expired: renewed", cur: secretA, client: netip.MustParseAddr("203.0.113.203"), now: 1559734700,
			cookie: "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", found: true, want: CookieInvalid,
			reply: "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e"},
		{name: "A.4 previous secret: valid, renewed under the new", prev: "dd3bdf9344b678b185a6f5cb60fca715", cur: "445536bcd2513298075a5d379663c962",
			client: netip.MustParseAddr("2001:db8:220:1:59de:d0f4:8769:82b8"), now: 1559741961,
			cookie: "22681ab97d52c298010000005cf7c57926556bd0934c72f8", found: true, want: CookieValid,
			reply: "22681ab97d52c298010000005cf7c609a6bb79d16625507a"},
		{name: "A.4 without the previous secret", cur: "445536bcd2513298075a5d379663c962",
			client: netip.MustParseAddr("2001:db8:220:1:59de:d0f4:8769:82b8"), now: 1559741961,
			cookie: "22681ab97d52c298010000005cf7c57926556bd0934c72f8", found: true, want: CookieInvalid},
		{name: "empty", cur: secretA, client: v4, now: 1559731985, cookie: "", found: true, want: CookieMalformed},
		{name: "5 bytes", cur: secretA, client: v4, now: 1559731985, cookie: "0102030405", found: true, want: CookieMalformed},
		{name: "9 bytes", cur: secretA, client: v4, now: 1559731985, cookie: "010203040506070809", found: true, want: CookieMalformed},
		{name: "15 bytes", cur: secretA, client: v4, now: 1559731985, cookie: strings.Repeat("01", 15), found: true, want: CookieMalformed},
		{name: "41 bytes", cur: secretA, client: v4, now: 1559731985, cookie: strings.Repeat("01", 41), found: true, want: CookieMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var j *cookieJar
			var err error
			if tt.prev != "" {
				j, err = newCookieJar(unhex(t, tt.prev))
				if err == nil {
					err = j.rotate(unhex(t, tt.cur))
				}
			} else {
				j, err = newCookieJar(unhex(t, tt.cur))
			}
			if err != nil {
				t.Fatal(err)
			}
			j.clock = clock.NewFake(time.Unix(tt.now, 0))
			var reply [cookieReplyLen]byte
			c := unhex(t, tt.cookie)
			got := j.verdict(c, tt.found, tt.client, &reply)
			if got != tt.want {
				t.Fatalf("verdict %v, want %v", got, tt.want)
			}
			if got.AddressProven() != (tt.want == CookieValid) {
				t.Errorf("AddressProven %v for %v", got.AddressProven(), got)
			}
			switch {
			case tt.reply != "":
				if hex.EncodeToString(reply[:]) != tt.reply {
					t.Errorf("reply %x, want %s", reply, tt.reply)
				}
			case got == CookieValid || got == CookieInvalid || got == CookieClientOnly:
				// A fresh cookie: stamped now, and valid when it returns.
				if !bytes.Equal(reply[:8], c[:8]) || reply[8] != 1 || int64(binary.BigEndian.Uint32(reply[12:])) != tt.now&0xffffffff {
					t.Errorf("reply %x is not a fresh cookie", reply)
				}
				var again [cookieReplyLen]byte
				if v := j.verdict(reply[:], true, tt.client, &again); v != CookieValid {
					t.Errorf("our own fresh cookie is %v", v)
				}
			}
		})
	}
}

func TestCookieSecretConfig(t *testing.T) {
	if _, err := newCookieJar(make([]byte, 15)); err == nil {
		t.Error("a 15-byte secret was accepted")
	}
	a, err := newCookieJar(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newCookieJar(nil)
	if a.keys.Load().cur == b.keys.Load().cur || a.keys.Load().cur == ([16]byte{}) {
		t.Error("random secrets are not random")
	}
	if err := a.rotate(make([]byte, 3)); err == nil {
		t.Error("rotation to a 3-byte secret was accepted")
	}
}

// TestConcurrentRotations: of two rotations at once, one installs its
// secret first and the other keeps it as the previous secret, so that the
// cookies issued under it in between stay valid; neither may keep the
// secret both replaced. The new secrets are drawn from crypto/rand, which
// widens the window between reading the keys and storing their successor.
func TestConcurrentRotations(t *testing.T) {
	old := bytes.Repeat([]byte{1}, CookieSecretLen)
	for trial := range 2000 {
		j, err := newCookieJar(old)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := j.rotate(nil); err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		k := j.keys.Load()
		if !k.hasPrev || bytes.Equal(k.prev[:], old) || bytes.Equal(k.cur[:], old) || k.cur == k.prev {
			t.Fatalf("trial %d: after two rotations from %x: current %x, previous %x", trial, old, k.cur, k.prev)
		}
	}
}

// TestReadEDNS covers the record walk that finds the COOKIE option.
func TestReadEDNS(t *testing.T) {
	withOpts := func(opts ...dns.EDNS0) []byte {
		q := new(dns.Msg)
		q.SetQuestion("example.", dns.TypeA)
		q.SetEdns0(1400, false)
		q.IsEdns0().Option = opts
		b, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "2464c4abcf10c957"}
	plain := new(dns.Msg)
	plain.SetQuestion("example.", dns.TypeA)
	plainWire, _ := plain.Pack()
	good := withOpts(&dns.EDNS0_NSID{Code: dns.EDNS0NSID}, cookie)
	twoOPT := append(append([]byte(nil), good...), 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(twoOPT[10:], 2)
	named := append(append([]byte(nil), plainWire...), 0xC0, 12, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(named[10:], 1)
	tests := []struct {
		name   string
		in     []byte
		udp    int
		cookie string
		found  bool
		fault  wire.Reason
	}{
		{"no OPT", plainWire, 0, "", false, 0},
		{"OPT without cookie", withOpts(), 1400, "", false, 0},
		{"cookie after NSID", good, 1400, "2464c4abcf10c957", true, 0},
		{"truncated option", good[:len(good)-3], 0, "", false, wire.ErrTruncated},
		{"truncated record", good[:len(good)-14], 0, "", false, wire.ErrTruncated},
		{"two OPT records", twoOPT, 0, "", false, wire.ErrTwoOPT},
		{"OPT owned by a name", named, 0, "", false, wire.ErrOPTOwner},
	}
	for _, tt := range tests {
		var r wire.Reader
		if _, ok := r.OneQuestion(tt.in); !ok {
			t.Fatalf("%s: no question", tt.name)
		}
		var e queryEDNS
		fault := readEDNS(&r, tt.in, &e)
		if fault != tt.fault {
			t.Errorf("%s: fault %v, want %v", tt.name, fault, tt.fault)
			continue
		}
		if e.udpSize != tt.udp || e.cookieFound != tt.found || hex.EncodeToString(e.cookie) != tt.cookie {
			t.Errorf("%s: %+v", tt.name, e)
		}
	}
	if n := testing.AllocsPerRun(50, func() {
		for _, tt := range tests {
			var r wire.Reader
			var e queryEDNS
			r.OneQuestion(tt.in)
			readEDNS(&r, tt.in, &e)
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func BenchmarkCookieVerify(b *testing.B) {
	j, _ := newCookieJar(nil)
	src := netip.MustParseAddr("198.51.100.100")
	var reply, out [cookieReplyLen]byte
	j.verdict([]byte("12345678"), true, src, &reply)
	b.ReportAllocs()
	for b.Loop() {
		if j.verdict(reply[:], true, src, &out) != CookieValid {
			b.Fatal("invalid")
		}
	}
}
