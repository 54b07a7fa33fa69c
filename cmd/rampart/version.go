package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/rampart-fw/rampart/ids/detect"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func init() {
	subcommands = append(subcommands, func(a *app) *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print rampart's version and build information",
			Args:  noArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				v, rev := version, ""
				if bi, ok := debug.ReadBuildInfo(); ok {
					if v == "" {
						v = bi.Main.Version
					}
					for _, s := range bi.Settings {
						if s.Key == "vcs.revision" {
							rev = s.Value
						}
					}
				}
				if v == "" || v == "(devel)" {
					v = "devel"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "rampart %s", v)
				if rev != "" {
					fmt.Fprintf(cmd.OutOrStdout(), " (%.12s)", rev)
				}
				fmt.Fprintf(cmd.OutOrStdout(), " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
				fmt.Fprintf(cmd.OutOrStdout(), "ids prefilter: %s\n", detect.Matchers)
				return nil
			},
		}
	})
}
