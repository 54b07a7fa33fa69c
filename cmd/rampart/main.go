// Command rampart is a network perimeter defence system: a hardened caching
// DNS resolver, a stateful firewall gateway, and a lab of network namespaces
// to attack them in. Each subcommand registers itself from its own file, so
// a capability that has not landed is simply absent.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rampart-fw/rampart/srcpos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := newApp(stdout, stderr)
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "rampart:", err)
	var ue *usageError
	var ce *srcpos.Error
	var fe *failure
	switch {
	case errors.As(err, &fe):
		return fe.code
	case errors.As(err, &ue), errors.As(err, &ce):
		return 2
	case isFlagError(err):
		return 2
	}
	return 1
}

// usageError marks a mistake on the command line or in configuration: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// failure carries an explicit exit code (a demo whose defence failed exits 1
// after printing its report, without a second error message).
type failure struct {
	code int
	msg  string
}

func (f *failure) Error() string { return f.msg }
