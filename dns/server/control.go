package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultControlPath is where `rampart resolver` listens for control
// commands, in the manner of unbound-control's local socket.
const DefaultControlPath = "/run/rampart/resolver.sock"

// ControlFunc runs one control command and returns its text output.
type ControlFunc func(args []string) (string, error)

// Control serves a line protocol on a Unix socket that only the owner can
// open (mode 0600): a client writes one command line, the server answers
// with the output and closes. An error answer starts with "error: ".
//
// The fields must not change once Serve has started. Each connection is
// handled in a goroutine of its own, so Commands run concurrently with
// each other and with the server: a ControlFunc must be safe for that.
type Control struct {
	Path     string
	Commands map[string]ControlFunc
	Log      *slog.Logger
}

// Listen binds the socket (removing a stale one) with mode 0600.
func (c *Control) Listen() (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o700); err != nil {
		return nil, err
	}
	if conn, err := net.DialTimeout("unix", c.Path, 200*time.Millisecond); err == nil {
		conn.Close()
		return nil, fmt.Errorf("control socket %s: another resolver is running", c.Path)
	}
	_ = os.Remove(c.Path)
	l, err := net.Listen("unix", c.Path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(c.Path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve answers control connections until ctx is done, then removes the
// socket.
func (c *Control) Serve(ctx context.Context, l net.Listener) {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer os.Remove(c.Path)
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go c.handle(conn)
	}
}

func (c *Control) handle(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		fmt.Fprintf(conn, "error: empty command; commands: %s\n", c.names())
		return
	}
	fn, ok := c.Commands[fields[0]]
	if !ok {
		fmt.Fprintf(conn, "error: unknown command %q; commands: %s\n", fields[0], c.names())
		return
	}
	out, err := fn(fields[1:])
	if err != nil {
		fmt.Fprintf(conn, "error: %v\n", err)
		return
	}
	if c.Log != nil {
		c.Log.Info("control command", "command", fields[0], "args", strings.Join(fields[1:], " "))
	}
	io.WriteString(conn, out)
}

func (c *Control) names() string {
	n := make([]string, 0, len(c.Commands))
	for k := range c.Commands {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// ControlRequest sends one command to the control socket at path and
// returns the answer; an "error: " answer becomes an error.
func ControlRequest(path string, args ...string) (string, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("cannot reach the resolver's control socket %s: %w (is `rampart resolver` running?)", path, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(conn, strings.Join(args, " ")); err != nil {
		return "", err
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	s := string(out)
	if msg, ok := strings.CutPrefix(s, "error: "); ok {
		return "", errors.New(strings.TrimSpace(msg))
	}
	return s, nil
}
