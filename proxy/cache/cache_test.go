package cache

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestStorable(t *testing.T) {
	date := t0.Format(http.TimeFormat)
	tests := []struct {
		name   string
		method string
		req    http.Header
		status int
		resp   http.Header
		want   string // "" storable, else the reason
	}{
		{"max-age", "GET", hdr(), 200, hdr("Cache-Control", "max-age=60"), ""},
		{"expires", "GET", hdr(), 200, hdr("Expires", date), ""},
		{"etag only", "GET", hdr(), 200, hdr("ETag", `"x"`), ""},
		{"last-modified", "GET", hdr(), 404, hdr("Last-Modified", date), ""},
		{"no-cache stored for revalidation", "GET", hdr(), 200, hdr("Cache-Control", "no-cache"), ""},
		{"nothing", "GET", hdr(), 200, hdr("Content-Type", "text/html"), "no freshness or validator"},
		{"post", "POST", hdr(), 200, hdr("Cache-Control", "max-age=60"), "method POST"},
		{"status 500", "GET", hdr(), 500, hdr("Cache-Control", "max-age=60"), "status 500"},
		{"status 206", "GET", hdr(), 206, hdr("Cache-Control", "max-age=60"), "status 206"},
		{"no-store", "GET", hdr(), 200, hdr("Cache-Control", "max-age=60, no-store"), "no-store"},
		{"request no-store", "GET", hdr("Cache-Control", "no-store"), 200, hdr("Cache-Control", "max-age=60"), "no-store"},
		{"private", "GET", hdr(), 200, hdr("Cache-Control", `private, max-age=60`), "private"},
		{"private with field", "GET", hdr(), 200, hdr("Cache-Control", `max-age=60, private="Set-Cookie"`), "private"},
		{"authorization", "GET", hdr("Authorization", "Basic x"), 200, hdr("Cache-Control", "max-age=60"), "authorization"},
		{"authorization public", "GET", hdr("Authorization", "Basic x"), 200, hdr("Cache-Control", "public, max-age=60"), ""},
		{"authorization s-maxage", "GET", hdr("Authorization", "Basic x"), 200, hdr("Cache-Control", "s-maxage=60"), ""},
		{"set-cookie", "GET", hdr(), 200, hdr("Cache-Control", "max-age=60", "Set-Cookie", "a=b"), "set-cookie"},
		{"vary star", "GET", hdr(), 200, hdr("Cache-Control", "max-age=60", "Vary", "Accept, *"), "vary *"},
		{"quoted comma", "GET", hdr(), 200, hdr("Cache-Control", `no-cache="a,b", no-store`), "no-store"},
	}
	for _, tt := range tests {
		ok, why := Storable(tt.method, tt.req, tt.status, tt.resp)
		if ok != (tt.want == "") || why != tt.want {
			t.Errorf("%s: %v %q, want %q", tt.name, ok, why, tt.want)
		}
	}
}

// TestFreshness: age and freshness per RFC 9111 §4.2, for a response
// stored at t0 and looked at later.
func TestFreshness(t *testing.T) {
	date := func(d time.Duration) string { return t0.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name    string
		resp    http.Header
		req     http.Header
		later   time.Duration
		wantAge time.Duration
		fresh   bool
	}{
		{"max-age fresh", hdr("Cache-Control", "max-age=60", "Date", date(0)), hdr(), 59 * time.Second, 59 * time.Second, true},
		{"max-age stale", hdr("Cache-Control", "max-age=60", "Date", date(0)), hdr(), 60 * time.Second, 60 * time.Second, false},
		{"s-maxage wins", hdr("Cache-Control", "max-age=600, s-maxage=10", "Date", date(0)), hdr(), 20 * time.Second, 20 * time.Second, false},
		{"age field counts", hdr("Cache-Control", "max-age=60", "Age", "50", "Date", date(0)), hdr(), 5 * time.Second, 55 * time.Second, true},
		{"apparent age from an old Date", hdr("Cache-Control", "max-age=60", "Date", date(-30*time.Second)), hdr(), 0, 30 * time.Second, true},
		{"expires", hdr("Expires", date(time.Hour), "Date", date(0)), hdr(), 59 * time.Minute, 59 * time.Minute, true},
		{"expires past", hdr("Expires", date(time.Hour), "Date", date(0)), hdr(), time.Hour, time.Hour, false},
		{"invalid expires is stale", hdr("Expires", "0", "Date", date(0)), hdr(), 0, 0, false},
		{"heuristic: a tenth", hdr("Last-Modified", date(-100*time.Minute), "Date", date(0)), hdr(), 9 * time.Minute, 9 * time.Minute, true},
		{"heuristic: past a tenth", hdr("Last-Modified", date(-100*time.Minute), "Date", date(0)), hdr(), 11 * time.Minute, 11 * time.Minute, false},
		{"no-cache", hdr("Cache-Control", "max-age=60, no-cache", "Date", date(0)), hdr(), 0, 0, false},
		{"request no-cache", hdr("Cache-Control", "max-age=60", "Date", date(0)), hdr("Cache-Control", "no-cache"), 0, 0, false},
		{"request pragma", hdr("Cache-Control", "max-age=60", "Date", date(0)), hdr("Pragma", "no-cache"), 0, 0, false},
		{"request max-age=0", hdr("Cache-Control", "max-age=60", "Date", date(0)), hdr("Cache-Control", "max-age=0"), 1 * time.Second, 1 * time.Second, false},
		{"request min-fresh", hdr("Cache-Control", "max-age=60", "Date", date(0)), hdr("Cache-Control", "min-fresh=30"), 40 * time.Second, 70 * time.Second, false},
		{"request max-stale", hdr("Cache-Control", "max-age=60", "Date", date(0)), hdr("Cache-Control", "max-stale=30"), 80 * time.Second, 80 * time.Second, true},
		{"max-stale but must-revalidate", hdr("Cache-Control", "max-age=60, must-revalidate", "Date", date(0)), hdr("Cache-Control", "max-stale"), 80 * time.Second, 80 * time.Second, false},
	}
	for _, tt := range tests {
		c := New(Config{MaxBytes: 1 << 20})
		e := c.Store("http://x/", hdr(), 200, tt.resp, []byte("body"), nil, t0, t0)
		age, fresh := e.Fresh(t0.Add(tt.later), ParseDirectives(tt.req))
		if age != tt.wantAge || fresh != tt.fresh {
			t.Errorf("%s: age %v fresh %v, want %v %v", tt.name, age, fresh, tt.wantAge, tt.fresh)
		}
	}
}

func TestVary(t *testing.T) {
	c := New(Config{MaxBytes: 1 << 20})
	resp := hdr("Cache-Control", "max-age=60", "Vary", "Accept-Encoding, accept-language")
	gz := hdr("Accept-Encoding", "gzip", "Accept-Language", "en")
	br := hdr("Accept-Encoding", "br", "Accept-Language", "en")
	c.Store("k", gz, 200, resp, []byte("gzip body"), nil, t0, t0)
	c.Store("k", br, 200, resp, []byte("br body"), nil, t0, t0)
	for _, tt := range []struct {
		req  http.Header
		want string
	}{
		{gz, "gzip body"},
		{br, "br body"},
		{hdr("Accept-Encoding", " gzip ", "Accept-Language", "en"), "gzip body"},
		{hdr("Accept-Encoding", "gzip"), ""},
		{hdr("Accept-Encoding", "gzip", "Accept-Language", "de"), ""},
		{hdr(), ""},
	} {
		got := ""
		if e := c.Lookup("k", tt.req); e != nil {
			got = string(e.Body)
		}
		if got != tt.want {
			t.Errorf("%v: %q, want %q", tt.req, got, tt.want)
		}
	}
	// The same variant again replaces, not adds.
	c.Store("k", gz, 200, resp, []byte("gzip body 2"), nil, t0, t0)
	if st := c.Stats(); st.Entries != 2 {
		t.Errorf("%d entries, want 2", st.Entries)
	}
	if e := c.Lookup("k", gz); e == nil || string(e.Body) != "gzip body 2" {
		t.Errorf("replaced variant: %v", e)
	}
	// A bounded number of variants per key.
	for i := range 20 {
		c.Store("k", hdr("Accept-Encoding", fmt.Sprint(i)), 200, resp, []byte("b"), nil, t0, t0)
	}
	if st := c.Stats(); st.Entries != maxVariants {
		t.Errorf("%d variants, want %d", st.Entries, maxVariants)
	}
}

func TestUpdate(t *testing.T) {
	c := New(Config{MaxBytes: 1 << 20})
	old := c.Store("k", hdr(), 200, hdr("Cache-Control", "max-age=0", "ETag", `"v1"`, "Content-Length", "4", "X-A", "1"), []byte("body"), nil, t0, t0)
	if _, fresh := old.Fresh(t0.Add(time.Second), Directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1}); fresh {
		t.Fatal("max-age=0 fresh")
	}
	e := c.Update(old, hdr(), MergeHeader(old.Header, hdr("Cache-Control", "max-age=60", "X-A", "2", "Content-Length", "0")), nil, t0.Add(time.Second), t0.Add(time.Second))
	if string(e.Body) != "body" || e.Header.Get("X-A") != "2" || e.Header.Get("Content-Length") != "4" || e.ETag != `"v1"` {
		t.Errorf("updated: %q %v", e.Body, e.Header)
	}
	if _, fresh := e.Fresh(t0.Add(30*time.Second), ParseDirectives(hdr())); !fresh {
		t.Error("updated entry stale")
	}
	if got := c.Lookup("k", hdr()); got != e {
		t.Error("lookup does not find the updated entry")
	}
	if c.Stats().Entries != 1 {
		t.Error("update added an entry")
	}
}

// TestBound: the cache never holds more than its bound, evicts the least
// recently used, and refuses bodies over the object limit.
func TestBound(t *testing.T) {
	c := New(Config{MaxBytes: 1 << 20})
	body := make([]byte, 10<<10)
	resp := hdr("Cache-Control", "max-age=60")
	for i := range 1000 {
		c.Store(fmt.Sprintf("http://x/%d", i), hdr(), 200, resp, body, nil, t0, t0)
		if i%10 == 0 {
			c.Lookup("http://x/0", hdr()) // kept in use
		}
		if st := c.Stats(); st.Bytes > 1<<20 {
			t.Fatalf("after %d stores: %d bytes", i+1, st.Bytes)
		}
	}
	st := c.Stats()
	if st.Evictions == 0 || st.Entries < 50 {
		t.Errorf("stats %+v", st)
	}
	if c.Lookup("http://x/0", hdr()) == nil {
		t.Error("the entry in use was evicted")
	}
	if c.Lookup("http://x/1", hdr()) != nil {
		t.Error("an old unused entry survived")
	}
	if e := c.Store("big", hdr(), 200, resp, make([]byte, c.MaxObject()+1), nil, t0, t0); e != nil {
		t.Error("stored a body over the object limit")
	}
	c.Remove("http://x/0")
	if c.Lookup("http://x/0", hdr()) != nil {
		t.Error("Remove left the entry")
	}
	c.Purge()
	if st := c.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Errorf("after Purge: %+v", st)
	}
}

func TestLookupAllocs(t *testing.T) {
	c := New(Config{MaxBytes: 1 << 20})
	resp := hdr("Cache-Control", "max-age=60", "Vary", "Accept-Encoding")
	req := hdr("Accept-Encoding", "gzip")
	c.Store("http://x/a", req, 200, resp, []byte("b"), nil, t0, t0)
	if n := testing.AllocsPerRun(100, func() { c.Lookup("http://x/a", req) }); n != 0 {
		t.Errorf("%v allocations per hit", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	c := New(Config{MaxBytes: 64 << 20})
	resp := hdr("Cache-Control", "max-age=60", "Vary", "Accept-Encoding")
	req := hdr("Accept-Encoding", "gzip, br", "User-Agent", "wrk")
	for i := range 10000 {
		c.Store(fmt.Sprintf("http://origin.test/item/%d", i), req, 200, resp, []byte("body"), nil, t0, t0)
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("http://origin.test/item/%d", i*7)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if c.Lookup(keys[i%len(keys)], req) == nil {
			b.Fatal("miss")
		}
		i++
	}
}

func FuzzDirectives(f *testing.F) {
	f.Add(`max-age=60, no-cache="a,b", private`, "Accept-Encoding, *", "gzip")
	f.Add(`s-maxage=99999999999999999999`, "", "")
	f.Fuzz(func(t *testing.T, cc, vary, ae string) {
		d := ParseDirectives(hdr("Cache-Control", cc))
		for _, v := range []time.Duration{d.MaxAge, d.SMaxAge, d.MaxStale, d.MinFresh} {
			if v < -1 || v > maxDelta*time.Second {
				t.Fatalf("%q: duration %v", cc, v)
			}
		}
		resp := hdr("Cache-Control", cc, "Vary", vary, "ETag", `"e"`)
		req := hdr("Accept-Encoding", ae)
		ok, _ := Storable("GET", req, 200, resp)
		if !ok {
			return
		}
		if strings.Contains(vary, "*") {
			t.Fatal("stored Vary: *")
		}
		c := New(Config{MaxBytes: 1 << 20})
		c.Store("k", req, 200, resp, []byte("x"), nil, t0, t0)
		// The request that stored a variant finds it.
		if c.Lookup("k", req) == nil {
			t.Fatalf("Vary %q: the storing request misses", vary)
		}
	})
}
