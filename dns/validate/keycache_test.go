package validate

import (
	"fmt"
	"testing"
	"time"
)

func TestKeyCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newKeyCache[string](3)
	for i := range 5 {
		c.put(fmt.Sprintf("z%d.", i), link{kind: notACut, expires: now.Add(time.Hour)}, now)
	}
	c.put("dead.", link{kind: notACut, expires: now}, now) // TTL 0: not stored
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"z0.", now, false}, // evicted
		{"z1.", now, false}, // evicted
		{"z2.", now, true},
		{"z4.", now, true},
		{"dead.", now, false},
		{"z3.", now.Add(time.Hour), false}, // expired
		{"z3.", now, false},                // and gone
	} {
		if _, ok := c.get(tc.name, tc.at); ok != tc.ok {
			t.Errorf("get(%s, %v) = %v, want %v", tc.name, tc.at.Sub(now), ok, tc.ok)
		}
	}
	s := c.stats()
	if s.Evictions != 2 || s.Expired != 1 || s.Entries != 2 || s.Hits != 2 {
		t.Errorf("stats %+v", s)
	}
	// LRU: z2 and z4 were used; z5 evicts the older of them, z2.
	c.put("z5.", link{kind: notACut, expires: now.Add(time.Hour)}, now)
	c.put("z6.", link{kind: notACut, expires: now.Add(time.Hour)}, now)
	if _, ok := c.get("z2.", now); ok {
		t.Error("z2 survived")
	}
	if _, ok := c.get("z6.", now); !ok {
		t.Error("z6 missing")
	}
	c.flush()
	if s := c.stats(); s.Entries != 0 {
		t.Errorf("after flush %+v", s)
	}
}

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{"Example.LAB": "example.lab.", "a.b.": "a.b.", ".": ".", "WWW.x.": "www.x."} {
		if got := canonicalName(in); got != want {
			t.Errorf("canonicalName(%q) = %q, want %q", in, got, want)
		}
	}
	if labelBelow("www.example.lab.", ".") != "lab." || labelBelow("www.example.lab.", "lab.") != "example.lab." || labelBelow("lab.", "lab.") != "lab." {
		t.Error("labelBelow")
	}
}
