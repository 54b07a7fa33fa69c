package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
)

// Request is what the policy judges: who asks, with which method, for
// which host and URL, when.
type Request struct {
	Client netip.Addr
	Method string
	// Host is the host the request goes to, as CanonicalHost returns it.
	Host string
	// URL is the full URL the URL expressions see:
	// "http://host[:port]/path?query", the scheme and host in lower case,
	// the port only when it is not the scheme's own. A CONNECT request
	// that is not intercepted has no URL ("") and no URL rule matches it.
	URL string
	// Time is when the request arrived, in the zone the time ranges
	// are written in (the proxy's local time).
	Time time.Time
}

// Verdict is the policy's answer. Rule names what decided, as a block page
// shows it ("block.urls: ^http://[^/]+/private/"); it is empty when no
// rule matched and the request passes by default.
type Verdict struct {
	Block bool
	Rule  string
}

// URLRule is one regular expression on the full URL, and its text.
type URLRule struct {
	Re   *regexp.Regexp
	Text string
}

// CompileURL compiles a URL rule (RE2 syntax: matching time is linear in
// the URL's length, whatever the expression).
func CompileURL(expr string) (URLRule, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = se.Code.String()
			if se.Expr != expr {
				msg += " at " + strconv.Quote(se.Expr)
			}
		}
		return URLRule{}, fmt.Errorf("invalid regular expression %q: %s", expr, msg)
	}
	return URLRule{Re: re, Text: expr}, nil
}

// Lists is one side of the policy, allow or block: any entry that matches
// decides.
type Lists struct {
	// Key is the configuration section, "block" or "allow", for the names
	// of the rules.
	Key string
	// Hosts holds the set of the section's hosts key first, then one set
	// per list file.
	Hosts   []*HostSet
	URLs    []URLRule
	Methods []string // upper case
}

// match returns the name of the first entry that matches r, or "".
func (l *Lists) match(r *Request) string {
	for _, m := range l.Methods {
		if m == r.Method {
			return l.Key + ".methods: " + m
		}
	}
	for _, s := range l.Hosts {
		if h, ok := s.Match(r.Host); ok {
			key := l.Key + ".hosts"
			if s.File != "" {
				key = l.Key + ".lists"
			}
			return s.Describe(key, h)
		}
	}
	if r.URL != "" {
		for _, u := range l.URLs {
			if u.Re.MatchString(r.URL) {
				return l.Key + ".urls: " + u.Text
			}
		}
	}
	return ""
}

// Rule is one entry of the ordered rules: every condition it has must
// hold (an empty condition holds for every request), and then its action
// decides.
type Rule struct {
	Name    string // "rules[2]" or "rules[2] (work-hours)"
	Block   bool
	Hosts   *HostSet // nil: any host
	URLs    []URLRule
	Methods []string
	Clients []netip.Prefix
	Times   []TimeRange
	Days    Days // 0: every day
}

func (r *Rule) matches(q *Request) bool {
	if r.Hosts != nil {
		if _, ok := r.Hosts.Match(q.Host); !ok {
			return false
		}
	}
	if len(r.URLs) > 0 {
		ok := false
		for _, u := range r.URLs {
			if q.URL != "" && u.Re.MatchString(q.URL) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.Methods) > 0 {
		ok := false
		for _, m := range r.Methods {
			ok = ok || m == q.Method
		}
		if !ok {
			return false
		}
	}
	if len(r.Clients) > 0 {
		ok := false
		for _, p := range r.Clients {
			ok = ok || p.Contains(q.Client.Unmap())
		}
		if !ok {
			return false
		}
	}
	if r.Days != 0 && !r.Days.Has(q.Time.Weekday()) {
		return false
	}
	if len(r.Times) > 0 {
		minute := q.Time.Hour()*60 + q.Time.Minute()
		ok := false
		for _, t := range r.Times {
			ok = ok || t.Contains(minute)
		}
		if !ok {
			return false
		}
	}
	return true
}

// Policy is the whole filter. Check asks, in order: the rules (the first
// whose conditions hold decides), the allow lists (a match lets the
// request pass), the block lists (a match blocks it); a request nothing
// matches passes. A Policy is read-only once built and safe for
// concurrent use; a reload builds a new one.
type Policy struct {
	Rules []Rule
	Allow Lists
	Block Lists
}

// Check judges r. It allocates only to name a rule that blocked.
func (p *Policy) Check(r *Request) Verdict {
	for i := range p.Rules {
		if p.Rules[i].matches(r) {
			return Verdict{Block: p.Rules[i].Block, Rule: p.Rules[i].Name}
		}
	}
	if name := p.Allow.match(r); name != "" {
		return Verdict{Rule: name}
	}
	if name := p.Block.match(r); name != "" {
		return Verdict{Block: true, Rule: name}
	}
	return Verdict{}
}

// ListFiles returns the list files the policy holds, for a watcher that
// reloads them when they change.
func (p *Policy) ListFiles() []string {
	var out []string
	for _, l := range []*Lists{&p.Allow, &p.Block} {
		for _, s := range l.Hosts {
			if s.File != "" {
				out = append(out, s.File)
			}
		}
	}
	return out
}

// WithList returns a copy of p in which the sets read from file s.File
// are s. p is unchanged.
func (p *Policy) WithList(s *HostSet) *Policy {
	q := *p
	for _, l := range []*Lists{&q.Allow, &q.Block} {
		hosts := make([]*HostSet, len(l.Hosts))
		copy(hosts, l.Hosts)
		for i, h := range hosts {
			if h.File == s.File {
				hosts[i] = s
			}
		}
		l.Hosts = hosts
	}
	return &q
}

// TimeRange is a span of the day in minutes from midnight, [From, To); a
// range whose To is not after its From runs over midnight.
type TimeRange struct{ From, To int }

// Contains reports whether the minute of the day falls in the range.
func (t TimeRange) Contains(minute int) bool {
	if t.From < t.To {
		return minute >= t.From && minute < t.To
	}
	return minute >= t.From || minute < t.To
}

// ParseTimeRange reads "HH:MM-HH:MM", 24-hour clock; "22:00-06:00" runs
// over midnight, and "24:00" ends a range at midnight.
func ParseTimeRange(s string) (TimeRange, error) {
	bad := fmt.Errorf("invalid time range %q: want HH:MM-HH:MM such as 09:00-17:30", s)
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return TimeRange{}, bad
	}
	f, okf := parseClock(strings.TrimSpace(from), false)
	t, okt := parseClock(strings.TrimSpace(to), true)
	if !okf || !okt || f == t {
		return TimeRange{}, bad
	}
	return TimeRange{From: f, To: t % (24 * 60)}, nil
}

func parseClock(s string, end bool) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 {
		return 0, false
	}
	if hh == 24 && mm == 0 && end {
		return 24 * 60, true
	}
	if hh > 23 {
		return 0, false
	}
	return hh*60 + mm, true
}

// Days is a set of weekdays, bit i for time.Weekday(i).
type Days uint8

// Has reports whether d holds w.
func (d Days) Has(w time.Weekday) bool { return d&(1<<w) != 0 }

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseDay reads a weekday's three-letter name (mon ... sun), or a span
// of them ("mon-fri").
func ParseDay(s string) (Days, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	from, to, span := strings.Cut(s, "-")
	f, ok1 := dayNames[from]
	t, ok2 := f, true
	if span {
		t, ok2 = dayNames[to]
	}
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("invalid day %q: want mon, tue, wed, thu, fri, sat or sun, or a span such as mon-fri", s)
	}
	var d Days
	for w := f; ; w = (w + 1) % 7 {
		d |= 1 << w
		if w == t {
			break
		}
	}
	return d, nil
}
