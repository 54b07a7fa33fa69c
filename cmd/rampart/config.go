package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/firewall/classify"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// fileConfig is the whole configuration file: one section per subcommand,
// each documented key by key in docs/configuration.md (a test holds the two
// together). A section's check method makes every check its subcommand
// makes at start-up, without starting anything: `rampart config check`
// runs them all.
type fileConfig struct {
	Lab           labConfig           `yaml:"lab"`
	Authoritative authoritativeConfig `yaml:"authoritative"`
	Resolver      resolverConfig      `yaml:"resolver"`
	Gateway       gatewayConfig       `yaml:"gateway"`
	Proxy         proxyConfig         `yaml:"proxy"`
	IDS           idsConfig           `yaml:"ids"`
}

func init() { subcommands = append(subcommands, newConfigCommand) }

func newConfigCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check a configuration file",
		Long: `Work with rampart's configuration file: one YAML file with a section per
subcommand (lab, authoritative, resolver, gateway, proxy, ids), given to any subcommand
with --config. docs/configuration.md lists every key. A command-line flag
overrides the key it stands for: --cache-size of 'rampart resolver' sets
resolver.cache_size.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a whole configuration file and report every problem",
		Long: `Validate a whole configuration file as the subcommands would at start-up,
starting nothing: unknown keys, values of the wrong type, bad sizes,
addresses and prefixes, and the files it names (zone files, trust anchors,
root hints, the gateway's policy, the lab's topology, the proxy's lists, CA
and hosts file, the IDS's rule files: every rule in them) must exist and
parse.
Prints FILE: ok, or every problem with its file, line and column; exit 2 if
there is any.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			errs := checkConfigFile(args[0])
			if len(errs) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
				return nil
			}
			fmt.Fprintln(cmd.ErrOrStderr(), errs.Error())
			n := len(errs)
			if errs.Full() {
				n--
			}
			plural := "s"
			if n == 1 {
				plural = ""
			}
			more := ""
			if errs.Full() {
				more = " or more"
			}
			return &failure{code: 2, msg: fmt.Sprintf("%s: %d%s problem%s", args[0], n, more, plural)}
		},
	})
	return cmd
}

// checkConfigFile decodes path and checks every section of it. The values
// that decoded are checked even when others did not, so that one run shows
// every problem.
func checkConfigFile(path string) srcpos.List {
	var cfg fileConfig
	var errs srcpos.List
	if err := config.LoadFile(path, &cfg); err != nil {
		var decodeErrs srcpos.List
		if !errors.As(err, &decodeErrs) {
			return srcpos.AsList(err) // the file cannot be read
		}
		errs.Add(decodeErrs)
	}
	_, err := cfg.Lab.check()
	errs.Add(err)
	_, err = cfg.Authoritative.check()
	errs.Add(err)
	_, err = cfg.Resolver.check()
	errs.Add(err)
	gw, err := cfg.Gateway.check()
	errs.Add(err)
	if err == nil && gw.policy != nil {
		// What the gateway does with the policy at start-up, as
		// 'rampart fw check' does.
		if _, err := classify.CompilePolicy(gw.policy, classify.GatewayInterfaces(), classify.Config{}); err != nil {
			fileError(&errs, cfg.Gateway.Policy, err)
		}
	}
	_, err = cfg.Proxy.check()
	errs.Add(err)
	if s, err := cfg.IDS.check(); err != nil {
		errs.Add(err)
	} else {
		s.ruleErrors(&errs)
	}
	errs.Sort()
	return errs
}

// override sets dst to the value of the flag name when the command line
// gave it: a flag wins over the file.
func override[T any](fl *pflag.FlagSet, name string, dst *config.Value[T], v T) {
	if fl.Changed(name) {
		*dst = config.FromFlag(v, "--"+name)
	}
}

// checkFile reports whether the file v names can be read, as an error
// about v when it cannot.
func checkFile(errs *srcpos.List, v config.Value[string]) bool {
	f, err := os.Open(v.V)
	if err != nil {
		errs.Add(v.Errorf("%w", err))
		return false
	}
	f.Close()
	return true
}

// fileError reports a problem with the file v names: an error that names
// its place in that file (a srcpos error, or one whose text starts with
// the file's name) as it is, any other as an error about v.
func fileError(errs *srcpos.List, v config.Value[string], err error) {
	var pe *srcpos.Error
	if errors.As(err, &pe) || strings.HasPrefix(err.Error(), v.V+":") {
		errs.Add(err)
		return
	}
	errs.Add(v.Errorf("%w", err))
}

// checkListenAddr checks an ADDRESS:PORT to listen on (a host name is
// allowed, as net.Listen allows it); example is one for the message.
func checkListenAddr(errs *srcpos.List, v config.Value[string], example string) {
	host, port, err := net.SplitHostPort(v.V)
	if err == nil {
		if strings.ContainsAny(host, " \t") {
			err = fmt.Errorf("bad host %q", host)
		} else if _, perr := strconv.ParseUint(port, 10, 16); perr != nil {
			err = fmt.Errorf("bad port %q", port)
		}
	}
	if err != nil {
		errs.Add(v.Errorf("want ADDRESS:PORT such as %s, not %q", example, v.V))
	}
}
