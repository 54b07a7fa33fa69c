package applayer

import (
	"strings"
	"testing"
)

// TestHTTPGolden parses each input under testdata/http and compares the
// transactions and events with the golden file beside it; then it feeds
// every section cut at every byte, and one byte at a time, and requires
// the same result: a parser fed in chunks must not see anything else.
func TestHTTPGolden(t *testing.T) {
	for _, path := range cases(t, "http") {
		name := strings.TrimSuffix(path, ".txt")
		t.Run(name, func(t *testing.T) {
			p := mustNew(t, Config{})
			secs := readCase(t, path)
			whole := run(t, p, tcpKey, secs, nil)
			golden(t, name+".golden", whole)
			longest := 0
			for _, s := range secs {
				longest = max(longest, len(s.data))
			}
			for k := 1; k < longest; k++ {
				if got := run(t, p, tcpKey, secs, cutAt(k)); got != whole {
					t.Fatalf("cut at %d:\n%s\nwhole:\n%s", k, got, whole)
				}
			}
			if got := run(t, p, tcpKey, secs, bytewise); got != whole {
				t.Fatalf("byte by byte:\n%s\nwhole:\n%s", got, whole)
			}
		})
	}
}
