package filter

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustSet(t testing.TB, name string, entries ...string) *HostSet {
	t.Helper()
	s := NewHostSet(name)
	for i, e := range entries {
		if err := s.Add(e, int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestHostSetMatch(t *testing.T) {
	s := mustSet(t, "block.hosts", "blocked.test", ".ads.test", "Mixed.Case.", "203.0.113.9", "::1")
	tests := []struct {
		host, want string // want: Describe's text, "" for no match
	}{
		{"blocked.test", "block.hosts: blocked.test"},
		{"www.blocked.test", ""}, // exact only
		{"ads.test", "block.hosts: .ads.test"},
		{"x.y.ads.test", "block.hosts: .ads.test"},
		{"badads.test", ""},
		{"test", ""},
		{"mixed.case", "block.hosts: mixed.case"},
		{"203.0.113.9", "block.hosts: 203.0.113.9"},
		{"::1", "block.hosts: ::1"},
		{"", ""},
	}
	for _, tt := range tests {
		h, ok := s.Match(tt.host)
		got := ""
		if ok {
			got = s.Describe("block.hosts", h)
		}
		if got != tt.want {
			t.Errorf("Match(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.TEST:8080": "example.test", "example.test.": "example.test", "[::1]:443": "::1",
		"[2001:DB8::1]": "2001:DB8::1", "2001:db8::1": "2001:db8::1", "a.b": "a.b", "203.0.113.1:80": "203.0.113.1",
	} {
		if got := CanonicalHost(in); got != want && !strings.EqualFold(got, want) {
			t.Errorf("CanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostSetAddErrors(t *testing.T) {
	s := NewHostSet("x")
	for e, want := range map[string]string{
		"":                              "empty host name",
		".":                             "empty host name",
		"a..b":                          "empty label",
		"bad!.test":                     `"!" is not allowed`,
		strings.Repeat("a", 64):         "label longer than 63",
		strings.Repeat("a.", 130) + "b": "longer than 253",
	} {
		err := s.Add(e, 0)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Add(%q) = %v, want %q", e, err, want)
		}
	}
}

func TestParseList(t *testing.T) {
	data, err := os.ReadFile("testdata/mixed.list")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseList("mixed.list", data)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"ads.example":       "block.lists: mixed.list:6: ads.example",
		"tracker.example":   "block.lists: mixed.list:6: tracker.example",
		"upper.example":     "block.lists: mixed.list:7: upper.example",
		"plain.example":     "block.lists: mixed.list:8: plain.example",
		"www.plain.example": "",
		"suffix.example":    "block.lists: mixed.list:9: .suffix.example",
		"a.suffix.example":  "block.lists: mixed.list:9: .suffix.example",
		"a.wild.example":    "block.lists: mixed.list:10: .wild.example",
		"x.abp.example":     "block.lists: mixed.list:11: .abp.example",
		"localhost":         "",
		"ip6-localhost":     "",
	}
	for host, want := range tests {
		got := ""
		if h, ok := s.Match(host); ok {
			got = s.Describe("block.lists", h)
		}
		if got != want {
			t.Errorf("%s: %q, want %q", host, got, want)
		}
	}
	if s.Len() != 7 {
		t.Errorf("%d entries, want 7", s.Len())
	}
	crlf, _ := os.ReadFile("testdata/crlf.list")
	if s, err := ParseList("crlf.list", crlf); err != nil || s.Len() != 2 {
		t.Errorf("CRLF list: %v, %v", s, err)
	}
}

func TestParseListErrors(t *testing.T) {
	path := filepath.Join("testdata", "broken.list")
	data, _ := os.ReadFile(path)
	_, err := ParseList(path, data)
	want := `testdata/broken.list:2:5: unexpected "names.example": a domain list has one name per line (a hosts file starts with an address)
testdata/broken.list:3:8: a hosts-file line needs a name after the address
testdata/broken.list:4:1: unsupported Adblock Plus rule "||x.example/path^": only ||domain^ is understood
testdata/broken.list:5:1: "bad!name.example": "!" is not allowed in a host name (letters, digits, '-' and '_'; IDNs in their xn-- form)
testdata/broken.list:6:9: ".suffix.example": a hosts file names hosts, not suffixes
testdata/broken.list:7:1: "a..b": empty label in host name`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestTimeRangeAndDays(t *testing.T) {
	tests := []struct {
		in      string
		minutes map[int]bool
		err     bool
	}{
		{in: "09:00-17:30", minutes: map[int]bool{9 * 60: true, 17*60 + 29: true, 17*60 + 30: false, 8*60 + 59: false}},
		{in: "22:00-06:00", minutes: map[int]bool{23 * 60: true, 0: true, 5*60 + 59: true, 6 * 60: false, 12 * 60: false}},
		{in: "00:00-24:00", minutes: map[int]bool{0: true, 23*60 + 59: true}},
		{in: "9:00-10:00", minutes: map[int]bool{9 * 60: true}},
		{in: "24:00-01:00", err: true},
		{in: "09:00", err: true},
		{in: "09:60-10:00", err: true},
		{in: "10:00-10:00", err: true},
		{in: "a:bc-10:00", err: true},
	}
	for _, tt := range tests {
		r, err := ParseTimeRange(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		for m, want := range tt.minutes {
			if r.Contains(m) != want {
				t.Errorf("%q contains %d: %v", tt.in, m, !want)
			}
		}
	}
	d, err := ParseDay("fri-mon")
	if err != nil || !d.Has(time.Saturday) || !d.Has(time.Monday) || d.Has(time.Tuesday) {
		t.Errorf("fri-mon = %07b, %v", d, err)
	}
	if _, err := ParseDay("someday"); err == nil {
		t.Error("someday parsed")
	}
}

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	priv, err := CompileURL(`^http://[^/]+/private/`)
	if err != nil {
		t.Fatal(err)
	}
	work, _ := ParseTimeRange("09:00-17:00")
	weekdays, _ := ParseDay("mon-fri")
	list, err := ParseList("ads.list", []byte("0.0.0.0 tracker.test\n||ads.test^\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &Policy{
		Rules: []Rule{{Name: "rules[0] (work-hours)", Block: true, Hosts: mustSet(t, "rules[0].hosts", ".social.test"),
			Clients: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")}, Times: []TimeRange{work}, Days: weekdays}},
		Allow: Lists{Key: "allow", Hosts: []*HostSet{mustSet(t, "allow.hosts", "good.ads.test")}},
		Block: Lists{Key: "block", Hosts: []*HostSet{mustSet(t, "block.hosts", "blocked.test", ".evil.test"), list},
			URLs: []URLRule{priv}, Methods: []string{"TRACE"}},
	}
}

func TestPolicyCheck(t *testing.T) {
	p := testPolicy(t)
	monday := time.Date(2026, 12, 7, 10, 0, 0, 0, time.Local)
	saturday := time.Date(2026, 12, 5, 10, 0, 0, 0, time.Local)
	inside := netip.MustParseAddr("10.10.0.11")
	other := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name string
		req  Request
		want Verdict
	}{
		{"plain", Request{Client: other, Method: "GET", Host: "ok.test", URL: "http://ok.test/", Time: monday}, Verdict{}},
		{"host", Request{Client: other, Method: "GET", Host: "blocked.test", URL: "http://blocked.test/", Time: monday},
			Verdict{true, "block.hosts: blocked.test"}},
		{"suffix", Request{Client: other, Method: "GET", Host: "a.evil.test", URL: "http://a.evil.test/", Time: monday},
			Verdict{true, "block.hosts: .evil.test"}},
		{"url", Request{Client: other, Method: "GET", Host: "ok.test", URL: "http://ok.test/private/x", Time: monday},
			Verdict{true, "block.urls: ^http://[^/]+/private/"}},
		{"url https not matched", Request{Client: other, Method: "GET", Host: "ok.test", URL: "https://ok.test/private/x", Time: monday}, Verdict{}},
		{"connect has no URL", Request{Client: other, Method: "CONNECT", Host: "ok.test", Time: monday}, Verdict{}},
		{"method", Request{Client: other, Method: "TRACE", Host: "ok.test", URL: "http://ok.test/", Time: monday},
			Verdict{true, "block.methods: TRACE"}},
		{"list", Request{Client: other, Method: "GET", Host: "x.ads.test", URL: "http://x.ads.test/", Time: monday},
			Verdict{true, "block.lists: ads.list:2: .ads.test"}},
		{"allow wins over block", Request{Client: other, Method: "GET", Host: "good.ads.test", URL: "http://good.ads.test/", Time: monday},
			Verdict{false, "allow.hosts: good.ads.test"}},
		{"rule: inside, weekday, work hours", Request{Client: inside, Method: "GET", Host: "www.social.test", URL: "http://www.social.test/", Time: monday},
			Verdict{true, "rules[0] (work-hours)"}},
		{"rule: mapped address", Request{Client: netip.AddrFrom16(inside.As16()), Method: "GET", Host: "social.test", URL: "http://social.test/", Time: monday},
			Verdict{true, "rules[0] (work-hours)"}},
		{"rule: other client", Request{Client: other, Method: "GET", Host: "www.social.test", URL: "http://www.social.test/", Time: monday}, Verdict{}},
		{"rule: weekend", Request{Client: inside, Method: "GET", Host: "www.social.test", URL: "http://www.social.test/", Time: saturday}, Verdict{}},
		{"rule: evening", Request{Client: inside, Method: "GET", Host: "www.social.test", URL: "http://www.social.test/", Time: monday.Add(8 * time.Hour)}, Verdict{}},
	}
	for _, tt := range tests {
		if got := p.Check(&tt.req); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestWithList(t *testing.T) {
	p := testPolicy(t)
	if files := p.ListFiles(); len(files) != 1 || files[0] != "ads.list" {
		t.Fatalf("ListFiles = %v", files)
	}
	s, _ := ParseList("ads.list", []byte("other.test\n"))
	q := p.WithList(s)
	r := Request{Method: "GET", Host: "x.ads.test", URL: "http://x.ads.test/"}
	if v := q.Check(&r); v.Block {
		t.Errorf("new list: %+v", v)
	}
	if v := p.Check(&r); !v.Block {
		t.Errorf("old policy changed: %+v", v)
	}
	r.Host = "other.test"
	if v := q.Check(&r); v.Rule != "block.lists: ads.list:1: other.test" {
		t.Errorf("new list: %+v", v)
	}
}

func TestCheckAllocs(t *testing.T) {
	p := testPolicy(t)
	r := Request{Client: netip.MustParseAddr("10.10.0.11"), Method: "GET", Host: "www.example.test", URL: "http://www.example.test/index.html?q=1", Time: time.Now()}
	if n := testing.AllocsPerRun(100, func() { p.Check(&r) }); n != 0 {
		t.Errorf("%v allocations per passing request, want 0", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	p := testPolicy(b)
	big := NewHostSet("big.list")
	big.File = "big.list"
	for i := 0; i < 100000; i++ {
		big.Add("host"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+".example"+string(rune('a'+i%13)), int32(i))
	}
	p.Block.Hosts = append(p.Block.Hosts, big)
	r := Request{Client: netip.MustParseAddr("10.10.0.11"), Method: "GET", Host: "www.cdn.example.test", URL: "http://www.cdn.example.test/static/app.js?v=12", Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		p.Check(&r)
	}
}

func FuzzParseList(f *testing.F) {
	for _, name := range []string{"mixed.list", "broken.list", "crlf.list"} {
		data, _ := os.ReadFile(filepath.Join("testdata", name))
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseList("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		// Every name the list holds matches itself.
		for name := range s.exact {
			if _, ok := s.Match(name); !ok {
				t.Fatalf("%q not found", name)
			}
		}
	})
}

func FuzzHostMatch(f *testing.F) {
	f.Add("ads.test", "x.ads.test")
	f.Add(".ads.test", "ads.test")
	f.Add("a", "")
	f.Fuzz(func(t *testing.T, entry, host string) {
		s := NewHostSet("f")
		if s.Add(entry, 1) != nil {
			return
		}
		h := CanonicalHost(host)
		hit, ok := s.Match(h)
		e := strings.TrimSuffix(strings.ToLower(entry), ".")
		want := h == strings.TrimPrefix(e, ".") || (strings.HasPrefix(e, ".") && strings.HasSuffix(h, e))
		if ok != want {
			t.Fatalf("entry %q host %q (%q): match %v %+v, want %v", entry, host, h, ok, hit, want)
		}
	})
}
