//go:build !linux

package resolver

import "syscall"

// setDontFragment is a no-op where the socket options differ; rampart's
// gateway runs on Linux, and other systems are for development only.
func setDontFragment(string, string, syscall.RawConn) error { return nil }

// setReusePort is a no-op where SO_REUSEPORT is not known: the weakened
// transport then serialises on its port through bind errors.
func setReusePort(fd uintptr) error { return nil }
