package policy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestFormatGolden formats every testdata/*.rules file and compares it with
// the .golden file beside it.
func TestFormatGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.rules")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(filepath.Base(file), src)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := p.Format(&got); err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(file, ".rules") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("Format differs from %s:\n%s", golden, got.String())
			}
		})
	}
}

func TestFormatRows(t *testing.T) {
	tests := []struct {
		src  string
		want []string // the rule rows
	}{
		{"allow 22/tcp", []string{
			"[ 1] 22/tcp                     ALLOW IN    Anywhere",
			"[ 2] 22/tcp (v6)                ALLOW IN    Anywhere (v6)"}},
		{"deny 53", []string{
			"[ 1] 53                         DENY IN     Anywhere",
			"[ 2] 53 (v6)                    DENY IN     Anywhere (v6)"}},
		{"allow from 192.0.2.0/24 to any port 22 proto tcp", []string{
			"[ 1] 22/tcp                     ALLOW IN    192.0.2.0/24"}},
		{"allow in on eth0", []string{
			"[ 1] Anywhere on eth0           ALLOW IN    Anywhere",
			"[ 2] Anywhere (v6) on eth0      ALLOW IN    Anywhere (v6)"}},
		{"allow out on wan to 192.0.2.1", []string{
			"[ 1] 192.0.2.1                  ALLOW OUT   Anywhere on wan"}},
		{"route allow in on lan out on wan from 10.0.0.0/8", []string{
			"[ 1] Anywhere on wan            ALLOW FWD   10.0.0.0/8 on lan"}},
		{"allow proto esp from 192.0.2.1", []string{
			"[ 1] Anywhere/esp               ALLOW IN    192.0.2.1/esp"}},
		{"limit log ssh comment 'admins'", []string{
			"[ 1] 22/tcp                     LIMIT IN (log) Anywhere                   # admins",
			"[ 2] 22/tcp (v6)                LIMIT IN (log) Anywhere (v6)              # admins"}},
		{"allow from 2001:db8::/32 port 53 to 2001:db8:1::1 port 1024:2048 proto udp", []string{
			"[ 1] 2001:db8:1::1 1024:2048/udp ALLOW IN    2001:db8::/32 53/udp"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, err := Parse("t.rules", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := p.Format(&b); err != nil {
				t.Fatal(err)
			}
			var rows []string
			for _, l := range strings.Split(b.String(), "\n") {
				if strings.HasPrefix(l, "[") {
					rows = append(rows, l)
				}
			}
			if strings.Join(rows, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestFormatWriteError(t *testing.T) {
	p, err := Parse("t.rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Format(failWriter{}); err == nil {
		t.Error("write error not reported")
	}
}
