package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Directives are the Cache-Control directives the cache acts on. Absent
// durations are -1.
type Directives struct {
	NoStore, NoCache, Private, Public, MustRevalidate, ProxyRevalidate, OnlyIfCached bool
	MaxAge, SMaxAge, MaxStale, MinFresh                                              time.Duration
	// MaxStaleAny is max-stale without a value: any staleness.
	MaxStaleAny bool
}

// ParseDirectives reads the Cache-Control fields of h (and Pragma:
// no-cache when there is no Cache-Control, RFC 9111 §5.4). Unknown
// directives are ignored, and a bad duration counts as 0 (RFC 9111
// §1.2.2: stale rather than fresh).
func ParseDirectives(h http.Header) Directives {
	d := Directives{MaxAge: -1, SMaxAge: -1, MaxStale: -1, MinFresh: -1}
	cc := h["Cache-Control"]
	if len(cc) == 0 {
		for _, p := range h["Pragma"] {
			if strings.Contains(strings.ToLower(p), "no-cache") {
				d.NoCache = true
			}
		}
		return d
	}
	for _, line := range cc {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			name, value, hasValue := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch name {
			case "no-store":
				d.NoStore = true
			case "no-cache":
				// no-cache="field" limits the directive to fields; a
				// cache may treat it as no-cache for the whole response.
				d.NoCache = true
			case "private":
				d.Private = true
			case "public":
				d.Public = true
			case "must-revalidate":
				d.MustRevalidate = true
			case "proxy-revalidate":
				d.ProxyRevalidate = true
			case "only-if-cached":
				d.OnlyIfCached = true
			case "max-age":
				d.MaxAge = seconds(value)
			case "s-maxage":
				d.SMaxAge = seconds(value)
			case "min-fresh":
				d.MinFresh = seconds(value)
			case "max-stale":
				if !hasValue {
					d.MaxStaleAny = true
				} else {
					d.MaxStale = seconds(value)
				}
			}
		}
	}
	return d
}

// nextItem splits off the first comma-separated item, respecting quotes.
func nextItem(s string) (item, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// maxDelta is the largest delta-seconds kept (RFC 9111 §1.2.2: 2^31).
const maxDelta = 1 << 31

func seconds(v string) time.Duration {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(min(n, maxDelta)) * time.Second
}
