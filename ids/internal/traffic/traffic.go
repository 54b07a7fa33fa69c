// Package traffic generates the IDS benchmarks' inputs: HTTP requests
// and responses, DNS queries and answers and TLS ClientHellos, the
// traffic the IDS's throughput is measured on, and sets of literals of
// the shapes rules' fast patterns have. It is deterministic for a seed.
package traffic

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
)

var vocab = strings.Fields(`admin login index search api user account session token update
install setup config shell cmd exec upload download file image static assets scripts
wp-content wp-admin wp-includes plugins themes jquery bootstrap analytics tracking pixel
cgi-bin phpmyadmin webshell backdoor payload exploit inject select union insert drop table
from where passwd shadow etc proc self environ include require eval base64 decode
mozilla windows linux android iphone chrome safari firefox edge curl wget python java go
compatible msie trident gecko khtml webkit mobile tablet bot crawler spider monitor
content type length encoding gzip deflate chunked keep alive close cache control no store
application json javascript html xml text plain form urlencoded multipart octet stream
example test local internal corp mail cdn static media video news shop store cart pay`)

// Pattern is a literal and whether it ignores case.
type Pattern struct {
	Bytes  []byte
	Nocase bool
}

func word(r *rand.Rand) string { return vocab[r.IntN(len(vocab))] }

var hosts = []string{"www.example.com", "cdn.example.net", "api.shop.example.org", "mail.corp.example",
	"static.media.example.com", "news.example.co.uk", "login.example.com", "tracking.example.io"}

func httpRequest(r *rand.Rand) []byte {
	var b strings.Builder
	method := []string{"GET", "GET", "GET", "POST", "HEAD"}[r.IntN(5)]
	fmt.Fprintf(&b, "%s /%s/%s/%s.%s?%s=%d&%s=%s HTTP/1.1\r\n", method, word(r), word(r), word(r),
		[]string{"php", "html", "js", "css", "png", "json"}[r.IntN(6)], word(r), r.IntN(100000), word(r), word(r))
	fmt.Fprintf(&b, "Host: %s\r\n", hosts[r.IntN(len(hosts))])
	fmt.Fprintf(&b, "User-Agent: Mozilla/5.0 (%s NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36\r\n",
		[]string{"Windows", "X11; Linux x86_64", "Macintosh; Intel Mac OS X 10_15_7"}[r.IntN(3)], 100+r.IntN(30), r.IntN(9999), r.IntN(999))
	b.WriteString("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n")
	b.WriteString("Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n")
	fmt.Fprintf(&b, "Cookie: session=%016x; %s=%s; _ga=GA1.2.%d.%d\r\n", r.Uint64(), word(r), word(r), r.Uint32(), r.Uint32())
	fmt.Fprintf(&b, "Referer: https://%s/%s/%s\r\nConnection: keep-alive\r\n", hosts[r.IntN(len(hosts))], word(r), word(r))
	if method == "POST" {
		body := fmt.Sprintf("%s=%s&%s=%s&%s=%d", word(r), word(r), word(r), word(r), word(r), r.IntN(1e6))
		fmt.Fprintf(&b, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	} else {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

func httpResponse(r *rand.Rand) []byte {
	var body strings.Builder
	body.WriteString("<!DOCTYPE html>\n<html><head><title>")
	for range 3 + r.IntN(5) {
		body.WriteString(word(r) + " ")
	}
	body.WriteString("</title><link rel=\"stylesheet\" href=\"/static/css/main.css\"><script src=\"/static/js/jquery.min.js\"></script></head>\n<body>\n")
	for body.Len() < 1200+r.IntN(200) {
		fmt.Fprintf(&body, "<div class=\"%s-%s\"><a href=\"/%s/%s?id=%d\">%s %s %s</a> <p>%s %s %s %s %s.</p></div>\n",
			word(r), word(r), word(r), word(r), r.IntN(1e5), word(r), word(r), word(r), word(r), word(r), word(r), word(r), word(r))
	}
	body.WriteString("</body></html>\n")
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nDate: Mon, 0%d Jan 2024 12:%02d:%02d GMT\r\nServer: nginx/1.%d.%d\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\nCache-Control: max-age=%d\r\nSet-Cookie: id=%016x; Path=/; HttpOnly\r\n\r\n",
		1+r.IntN(9), r.IntN(60), r.IntN(60), 18+r.IntN(8), r.IntN(10), body.Len(), r.IntN(86400), r.Uint64())
	return []byte(head + body.String())
}

func dnsName(r *rand.Rand) []byte {
	var b []byte
	labels := strings.Split(hosts[r.IntN(len(hosts))], ".")
	if r.IntN(2) == 0 {
		labels = append([]string{word(r) + fmt.Sprint(r.IntN(100))}, labels...)
	}
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

func dnsQuery(r *rand.Rand) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(r.Uint32()))
	b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1)
	b = append(b, dnsName(r)...)
	b = append(b, 0, []byte{1, 28, 15, 16, 65}[r.IntN(5)], 0, 1)
	b = append(b, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0) // EDNS0 OPT
	return b
}

func dnsResponse(r *rand.Rand) []byte {
	q := dnsQuery(r)
	q[2] = 0x81
	q[3] = 0x80
	q[7] = 2
	for range 2 {
		q = append(q, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4)
		q = binary.BigEndian.AppendUint32(q, r.Uint32())
	}
	return q
}

func tlsClientHello(r *rand.Rand) []byte {
	ext := appendSNI(nil, hosts[r.IntN(len(hosts))])
	ext = append(ext, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18) // groups
	ext = append(ext, 0x00, 0x0d, 0x00, 0x0a, 0x00, 0x08, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03)
	ext = append(ext, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 'h', '2', 0x08, 'h', 't', 't', 'p', '/', '1', '.', '1')
	ext = append(ext, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20) // key share
	for range 32 {
		ext = append(ext, byte(r.Uint32()))
	}
	var hello []byte
	hello = append(hello, 0x03, 0x03)
	for range 32 {
		hello = append(hello, byte(r.Uint32()))
	}
	hello = append(hello, 32)
	for range 32 {
		hello = append(hello, byte(r.Uint32()))
	}
	suites := []byte{0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35}
	hello = binary.BigEndian.AppendUint16(hello, uint16(len(suites)))
	hello = append(hello, suites...)
	hello = append(hello, 1, 0)
	hello = binary.BigEndian.AppendUint16(hello, uint16(len(ext)))
	hello = append(hello, ext...)
	hs := append([]byte{1, 0, byte(len(hello) >> 8), byte(len(hello))}, hello...)
	rec := []byte{0x16, 0x03, 0x01, byte(len(hs) >> 8), byte(len(hs))}
	return append(rec, hs...)
}

// Corpus returns n payloads in the mix of the generated traffic:
// by bytes mostly HTTP, with DNS and TLS handshakes.
func Corpus(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]byte, 0, n)
	for len(out) < n {
		switch r.IntN(6) {
		case 0, 1:
			out = append(out, httpRequest(r))
		case 2:
			out = append(out, httpResponse(r))
		case 3:
			out = append(out, dnsQuery(r))
		case 4:
			out = append(out, dnsResponse(r))
		case 5:
			out = append(out, tlsClientHello(r))
		}
	}
	return out
}

// Patterns returns n patterns of 4 to 30 bytes shaped like rules' fast
// patterns: words and phrases, URL paths, header fragments, hex byte
// sequences; half of them nocase. A few occur in the corpus.
func Patterns(n int, seed uint64) []Pattern {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([]Pattern, 0, n)
	// clip cuts s to at most 30 bytes, keeping at least min: a rule's
	// literal is more than the common prefix it starts with.
	clip := func(s string, min int) string {
		for len(s) < min {
			s += word(r)
		}
		if len(s) > 30 {
			s = s[:min+r.IntN(31-min)]
		}
		return s
	}
	for len(out) < n {
		var s string
		keep := 4
		switch r.IntN(8) {
		case 0, 1:
			s = fmt.Sprintf("/%s/%s%s.%s", word(r), word(r), fmt.Sprint(r.IntN(100)), []string{"php", "asp", "cgi", "jsp", "exe"}[r.IntN(5)])
		case 2:
			s = fmt.Sprintf("%s=%s%d", word(r), word(r), r.IntN(1000))
		case 3:
			s = fmt.Sprintf("%s %s %s", word(r), word(r), word(r))
		case 4:
			s = fmt.Sprintf("User-Agent: %s%s/%d", word(r), word(r), r.IntN(10))
			keep = 18
		case 5:
			s = fmt.Sprintf("%s%c%s", word(r), "_-.:"[r.IntN(4)], word(r))
		case 6, 7:
			b := make([]byte, 4+r.IntN(9))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			out = append(out, Pattern{Bytes: b})
			continue
		}
		out = append(out, Pattern{Bytes: []byte(clip(s, keep)), Nocase: r.IntN(2) == 0})
	}
	return out
}
