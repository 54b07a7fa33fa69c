package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

// subcommands are added by the files that implement them, so that a
// capability that has not landed is simply absent from the command.
var subcommands []func(a *app) *cobra.Command

// app holds what every subcommand shares: global flags, the logger and the
// configuration file.
type app struct {
	configPath string
	logFormat  string
	logLevel   string
	log        *slog.Logger
	cfg        fileConfig
	stdout     io.Writer
	stderr     io.Writer
}

func newApp(stdout, stderr io.Writer) *app {
	return &app{stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "rampart",
		Short: "A network perimeter defence system",
		Long: `rampart defends a network perimeter: a caching DNS resolver that cannot be
poisoned, a stateful firewall gateway and a filtering HTTP(S) proxy, in one
program. Its lab builds real
hosts in Linux network namespaces and runs the attacks of a network security
course against them.

Configuration is one YAML file (--config) with a section per subcommand;
command-line flags override it. Exit codes: 0 success, 1 runtime failure,
2 usage or configuration error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.setup()
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.CompletionOptions.HiddenDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "configuration file (YAML, a section per subcommand)")
	pf.StringVar(&a.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	for _, sub := range subcommands {
		root.AddCommand(sub(a))
	}
	return root
}

// setup builds the logger and loads the configuration file.
func (a *app) setup() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageErrorf("--log-level %q: use debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(a.logFormat) {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.stderr, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.stderr, opts))
	default:
		return usageErrorf("--log-format %q: use text or json", a.logFormat)
	}
	if a.configPath != "" {
		if err := config.LoadFile(a.configPath, &a.cfg); err != nil {
			if _, ok := err.(srcpos.List); ok {
				return err
			}
			return usageErrorf("configuration: %v", err)
		}
	}
	return nil
}

func isFlagError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") || strings.Contains(msg, "accepts ") ||
		strings.HasPrefix(msg, "required flag")
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), got %d (see '%s --help')", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 0 {
		return usageErrorf("%s takes no arguments, got %q (see '%s --help')", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}
