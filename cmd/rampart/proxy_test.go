package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProxyCAInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	code, out, errOut := runCLI("proxy", "ca", "init", "--dir", dir)
	if code != 0 || !strings.Contains(out, filepath.Join(dir, "ca.pem")) || errOut != "" {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for f, mode := range map[string]os.FileMode{"ca.pem": 0o644, "ca.key": 0o600} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	if code, _, errOut := runCLI("proxy", "ca", "init", "--dir", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("second init: exit %d %q", code, errOut)
	}
	if code, _, _ := runCLI("proxy", "ca", "init"); code != 2 {
		t.Errorf("no --dir: exit %d", code)
	}
}

// TestProxyCommand runs `rampart proxy` from a configuration file: it
// filters, logs, and takes a new file on SIGHUP, refusing a broken one.
func TestProxyCommand(t *testing.T) {
	// SIGHUP must reach the proxy's handler, never the default action.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin") }))
	defer origin.Close()
	_, port, _ := net.SplitHostPort(origin.Listener.Addr().String())
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	proxyAddr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 origin.test other.test\n"), 0o600)
	alog := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "rampart.yaml")
	write := func(block string) {
		os.WriteFile(cfgFile, []byte(fmt.Sprintf("proxy:\n  listen: [%q]\n  hosts_file: %s\n  access_log: %s\n  block:\n    hosts: [%s]\n", proxyAddr, hosts, alog, block)), 0o600)
	}
	write("blocked.test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	// The log goes to a file, which the test reads while the proxy
	// writes.
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	logText := func() string { b, _ := os.ReadFile(stderr.Name()); return string(b) }
	go func() { done <- run(ctx, []string{"--config", cfgFile, "proxy"}, io.Discard, stderr) }()
	pu, _ := url.Parse("http://" + proxyAddr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 5 * time.Second}
	get := func(host string) (int, string) {
		resp, err := c.Get("http://" + host + ":" + port + "/")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := get("origin.test"); code == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("origin.test"); code != 200 || body != "origin" {
		t.Fatalf("origin.test: %d %q\n%s", code, body, logText())
	}
	if code, body := get("blocked.test"); code != 403 || !strings.Contains(body, "blocked by block.hosts: blocked.test") {
		t.Errorf("blocked.test: %d %q", code, body)
	}
	write("other.test")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitUntil(t, func() bool { code, _ := get("other.test"); return code == 403 })
	os.WriteFile(cfgFile, []byte("proxy:\n  block:\n    hosts: [\"bad!\"]\n"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitUntil(t, func() bool { return strings.Contains(logText(), "configuration reload refused") })
	if code, _ := get("other.test"); code != 403 {
		t.Error("a broken file changed the configuration")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d\n%s", code, logText())
	}
	data, _ := os.ReadFile(alog)
	if !strings.Contains(string(data), " TCP_DENIED/403 ") || !strings.Contains(string(data), " TCP_MISS/200 ") {
		t.Errorf("access log:\n%s", data)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
