//go:build !hyperscan

package detect

import "github.com/rampart-fw/rampart/ids/mpm"

// Matchers names the multi-pattern matchers the prefilter can use in
// this build: without the build tag "hyperscan", ids/mpm's alone.
const Matchers = "ids/mpm"

func newMatcher(pats []mpm.Pattern) matcher { return goMatcher{mpm.New(pats)} }
