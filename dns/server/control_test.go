package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestControl(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl", "r.sock")
	c := &Control{Path: path, Commands: map[string]ControlFunc{
		"stats": func([]string) (string, error) { return "queries=3\n", nil },
		"flush": func(a []string) (string, error) {
			if len(a) != 1 {
				return "", os.ErrInvalid
			}
			return "flushed " + a[0] + "\n", nil
		},
	}}
	l, err := c.Listen()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Serve(ctx, l); close(done) }()
	if out, err := ControlRequest(path, "stats"); err != nil || out != "queries=3\n" {
		t.Errorf("stats: %q %v", out, err)
	}
	if out, err := ControlRequest(path, "flush", "example.lab."); err != nil || out != "flushed example.lab.\n" {
		t.Errorf("flush: %q %v", out, err)
	}
	if _, err := ControlRequest(path, "flush"); err == nil {
		t.Error("flush without a name succeeded")
	}
	if _, err := ControlRequest(path, "reboot"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
	if _, err := c.Listen(); err == nil {
		t.Error("a second resolver could take over the socket")
	}
	cancel()
	<-done
	if _, err := os.Stat(path); err == nil {
		t.Error("socket not removed on shutdown")
	}
}
