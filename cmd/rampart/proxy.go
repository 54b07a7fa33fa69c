package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-fw/rampart/config"
	"github.com/rampart-fw/rampart/proxy"
	"github.com/rampart-fw/rampart/proxy/ca"
	"github.com/rampart-fw/rampart/proxy/cache"
	"github.com/rampart-fw/rampart/proxy/content"
	"github.com/rampart-fw/rampart/proxy/filter"
	"github.com/rampart-fw/rampart/srcpos"
	"github.com/spf13/cobra"
)

// proxyConfig is the proxy: section of the configuration file.
type proxyConfig struct {
	Listen       []config.Value[string] `yaml:"listen"`
	AllowClients []config.Prefix        `yaml:"allow_clients"`
	ConnectPorts []config.Value[int]    `yaml:"connect_ports"`
	Block        proxyListsConfig       `yaml:"block"`
	// Allow holds exceptions to Block, in the same form.
	Allow   proxyListsConfig   `yaml:"allow"`
	Rules   []proxyRuleConfig  `yaml:"rules"`
	Content proxyContentConfig `yaml:"content"`
	TLS     proxyTLSConfig     `yaml:"tls"`
	Cache   proxyCacheConfig   `yaml:"cache"`

	AccessLog               config.Value[string] `yaml:"access_log"`
	AccessLogFormat         config.Value[string] `yaml:"access_log_format"`
	HostsFile               config.Value[string] `yaml:"hosts_file"`
	Metrics                 config.Value[string] `yaml:"metrics"`
	PAC                     proxyPACConfig       `yaml:"pac"`
	MaxConnectionsPerClient config.Value[int]    `yaml:"max_connections_per_client"`
	Timeouts                proxyTimeoutsConfig  `yaml:"timeouts"`
}

// proxyListsConfig is proxy.block, and proxy.allow.
type proxyListsConfig struct {
	Hosts   []config.Value[string] `yaml:"hosts"`
	URLs    []config.Value[string] `yaml:"urls"`
	Lists   []config.Value[string] `yaml:"lists"`
	Methods []config.Value[string] `yaml:"methods"`
}

// proxyRuleConfig is one of proxy.rules: conditions that must all hold,
// and an action.
type proxyRuleConfig struct {
	Src     config.Source          `yaml:"-"`
	Name    config.Value[string]   `yaml:"name"`
	Action  config.Value[string]   `yaml:"action"`
	Hosts   []config.Value[string] `yaml:"hosts"`
	URLs    []config.Value[string] `yaml:"urls"`
	Methods []config.Value[string] `yaml:"methods"`
	Clients []config.Prefix        `yaml:"clients"`
	Times   []config.Value[string] `yaml:"times"`
	Days    []config.Value[string] `yaml:"days"`
}

type proxyContentConfig struct {
	Patterns []config.Value[string]    `yaml:"patterns"`
	Action   config.Value[string]      `yaml:"action"`
	MaxBody  config.Value[config.Size] `yaml:"max_body"`
}

type proxyTLSConfig struct {
	Intercept      []config.Value[string] `yaml:"intercept"`
	NeverIntercept []config.Value[string] `yaml:"never_intercept"`
	CADir          config.Value[string]   `yaml:"ca_dir"`
	UpstreamCA     config.Value[string]   `yaml:"upstream_ca"`
}

type proxyCacheConfig struct {
	Memory config.Value[config.Size] `yaml:"memory"`
}

type proxyPACConfig struct {
	Proxy  config.Value[string]   `yaml:"proxy"`
	Direct []config.Value[string] `yaml:"direct"`
}

type proxyTimeoutsConfig struct {
	Connect        config.Value[config.Duration] `yaml:"connect"`
	ReadHeader     config.Value[config.Duration] `yaml:"read_header"`
	Idle           config.Value[config.Duration] `yaml:"idle"`
	ResponseHeader config.Value[config.Duration] `yaml:"response_header"`
	TunnelIdle     config.Value[config.Duration] `yaml:"tunnel_idle"`
}

// proxySetup is a checked proxyConfig: what runProxy starts from.
type proxySetup struct {
	listen          []string
	cfg             proxy.Config // without Cache, AccessLog, Logger
	metrics         string
	accessLog       string
	accessLogFormat string
	cacheBytes      int64
}

const (
	defaultProxyListen  = "127.0.0.1:3128"
	defaultCacheMemory  = 64 << 20
	defaultMaxBody      = 4 << 20
	minProxyCacheMemory = 1 << 20
	maxConnsPerClient   = 1 << 20
	// listCheckInterval is how often list files are looked at for
	// changes.
	listCheckInterval = 5 * time.Second
)

// check makes every check of the proxy's start-up that opens no socket
// and writes no file: the lists, the CA, the upstream bundle and the
// hosts file are read, and every problem is reported.
func (c *proxyConfig) check() (*proxySetup, error) {
	var errs srcpos.List
	s := &proxySetup{metrics: c.Metrics.V, accessLog: c.AccessLog.V, accessLogFormat: c.AccessLogFormat.Or(proxy.FormatSquid)}
	for _, l := range c.Listen {
		checkListenAddr(&errs, l, defaultProxyListen)
		s.listen = append(s.listen, l.V)
	}
	if len(s.listen) == 0 {
		s.listen = []string{defaultProxyListen}
	}
	for _, p := range c.AllowClients {
		s.cfg.AllowClients = append(s.cfg.AllowClients, p.Prefix.Masked())
	}
	for _, p := range c.ConnectPorts {
		if p.V < 1 || p.V > 65535 {
			errs.Add(p.Errorf("want a port from 1 to 65535, not %d", p.V))
			continue
		}
		s.cfg.ConnectPorts = append(s.cfg.ConnectPorts, uint16(p.V))
	}
	pol := &filter.Policy{}
	pol.Block = c.Block.check(&errs, "block")
	pol.Allow = c.Allow.check(&errs, "allow")
	for i := range c.Rules {
		if r, ok := c.Rules[i].check(&errs, i); ok {
			pol.Rules = append(pol.Rules, r)
		}
	}
	s.cfg.Filter = pol
	s.cfg.Content = c.Content.check(&errs)
	s.cfg.Intercept = hostSet(&errs, "tls.intercept", c.TLS.Intercept)
	s.cfg.NeverIntercept = hostSet(&errs, "tls.never_intercept", c.TLS.NeverIntercept)
	if c.TLS.CADir.V != "" {
		a, err := ca.Load(c.TLS.CADir.V, 0, nil)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("%w (create the CA with: rampart proxy ca init --dir %s)", err, c.TLS.CADir.V)
			}
			errs.Add(c.TLS.CADir.Errorf("%v", err))
		}
		s.cfg.CA = a
	} else if len(c.TLS.Intercept) > 0 {
		errs.Add(c.TLS.Intercept[0].Errorf("interception needs proxy.tls.ca_dir (create a CA with: rampart proxy ca init --dir DIR)"))
	}
	if c.TLS.UpstreamCA.V != "" && checkFile(&errs, c.TLS.UpstreamCA) {
		data, err := os.ReadFile(c.TLS.UpstreamCA.V)
		pool := x509.NewCertPool()
		if err == nil && !pool.AppendCertsFromPEM(data) {
			err = errors.New("no PEM certificate in it")
		}
		if err != nil {
			errs.Add(c.TLS.UpstreamCA.Errorf("%v", err))
		}
		s.cfg.UpstreamRoots = pool
	}
	s.cacheBytes = c.Cache.Memory.Or(defaultCacheMemory).Bytes()
	if s.cacheBytes < minProxyCacheMemory {
		errs.Add(c.Cache.Memory.Errorf("%d bytes is less than the 1MiB the cache needs", s.cacheBytes))
	}
	if c.AccessLog.V != "" {
		if fi, err := os.Stat(filepath.Dir(c.AccessLog.V)); err != nil || !fi.IsDir() {
			errs.Add(c.AccessLog.Errorf("no folder %s for the access log", filepath.Dir(c.AccessLog.V)))
		}
	}
	if f := s.accessLogFormat; f != proxy.FormatSquid && f != proxy.FormatJSON {
		errs.Add(c.AccessLogFormat.Errorf("use squid or json, not %q", f))
	}
	if c.HostsFile.V != "" && checkFile(&errs, c.HostsFile) {
		data, err := os.ReadFile(c.HostsFile.V)
		if err == nil {
			s.cfg.Hosts, err = proxy.ParseHosts(c.HostsFile.V, data)
		}
		if err != nil {
			fileError(&errs, c.HostsFile, err)
		}
	}
	if c.Metrics.V != "" {
		checkListenAddr(&errs, c.Metrics, "127.0.0.1:9156")
	}
	if c.PAC.Proxy.V != "" {
		checkListenAddr(&errs, c.PAC.Proxy, "10.10.0.1:3128")
		s.cfg.PACProxy = c.PAC.Proxy.V
	}
	for _, d := range c.PAC.Direct {
		if err := filter.NewHostSet("").Add(d.V, 0); err != nil {
			errs.Add(d.Errorf("%v", err))
		}
		s.cfg.PACDirect = append(s.cfg.PACDirect, strings.ToLower(d.V))
	}
	if n := c.MaxConnectionsPerClient.Or(proxy.DefaultMaxConnsPerClient); n < 1 || n > maxConnsPerClient {
		errs.Add(c.MaxConnectionsPerClient.Errorf("want 1 to %d connections, not %d", maxConnsPerClient, n))
	} else {
		s.cfg.MaxConnsPerClient = n
	}
	t := &c.Timeouts
	s.cfg.Timeouts = proxy.Timeouts{Connect: t.Connect.V.D(), ReadHeader: t.ReadHeader.V.D(), Idle: t.Idle.V.D(),
		ResponseHeader: t.ResponseHeader.V.D(), TunnelIdle: t.TunnelIdle.V.D()}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return s, nil
}

// hostSet builds a host set from a configuration list of hosts and
// .suffixes.
func hostSet(errs *srcpos.List, key string, vs []config.Value[string]) *filter.HostSet {
	s := filter.NewHostSet(key)
	for i, v := range vs {
		if err := s.Add(v.V, int32(i)); err != nil {
			errs.Add(v.Errorf("%v", err))
		}
	}
	return s
}

func (l *proxyListsConfig) check(errs *srcpos.List, key string) filter.Lists {
	out := filter.Lists{Key: key}
	if len(l.Hosts) > 0 {
		out.Hosts = append(out.Hosts, hostSet(errs, key+".hosts", l.Hosts))
	}
	for _, f := range l.Lists {
		if !checkFile(errs, f) {
			continue
		}
		data, err := os.ReadFile(f.V)
		var set *filter.HostSet
		if err == nil {
			set, err = filter.ParseList(f.V, data)
		}
		if err != nil {
			fileError(errs, f, err)
			continue
		}
		out.Hosts = append(out.Hosts, set)
	}
	out.URLs = urlRules(errs, l.URLs)
	out.Methods = methods(errs, l.Methods)
	return out
}

func urlRules(errs *srcpos.List, vs []config.Value[string]) []filter.URLRule {
	var out []filter.URLRule
	for _, v := range vs {
		r, err := filter.CompileURL(v.V)
		if err != nil {
			errs.Add(v.Errorf("%v", err))
			continue
		}
		out = append(out, r)
	}
	return out
}

func methods(errs *srcpos.List, vs []config.Value[string]) []string {
	var out []string
	for _, v := range vs {
		m := strings.ToUpper(v.V)
		if m == "" || strings.IndexFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			errs.Add(v.Errorf("%q is not a method name (letters only, such as TRACE)", v.V))
			continue
		}
		out = append(out, m)
	}
	return out
}

func (r *proxyRuleConfig) check(errs *srcpos.List, i int) (filter.Rule, bool) {
	n := len(*errs)
	name := "rules[" + strconv.Itoa(i) + "]"
	if r.Name.V != "" {
		name += " (" + r.Name.V + ")"
	}
	out := filter.Rule{Name: name}
	switch r.Action.V {
	case "block":
		out.Block = true
	case "allow":
	case "":
		errs.Add(r.Src.Errorf("a rule needs an action: allow or block"))
	default:
		errs.Add(r.Action.Errorf("use allow or block, not %q", r.Action.V))
	}
	if len(r.Hosts) > 0 {
		out.Hosts = hostSet(errs, name+".hosts", r.Hosts)
	}
	out.URLs = urlRules(errs, r.URLs)
	out.Methods = methods(errs, r.Methods)
	for _, p := range r.Clients {
		out.Clients = append(out.Clients, p.Prefix.Masked())
	}
	for _, t := range r.Times {
		tr, err := filter.ParseTimeRange(t.V)
		if err != nil {
			errs.Add(t.Errorf("%v", err))
		}
		out.Times = append(out.Times, tr)
	}
	for _, d := range r.Days {
		days, err := filter.ParseDay(d.V)
		if err != nil {
			errs.Add(d.Errorf("%v", err))
		}
		out.Days |= days
	}
	if len(r.Hosts)+len(r.URLs)+len(r.Methods)+len(r.Clients)+len(r.Times)+len(r.Days) == 0 && r.Action.V != "" {
		errs.Add(r.Src.Errorf("a rule needs at least one condition (hosts, urls, methods, clients, times, days)"))
	}
	return out, len(*errs) == n
}

func (c *proxyContentConfig) check(errs *srcpos.List) *content.Filter {
	action := content.Block
	if c.Action.IsSet() {
		a, err := content.ParseAction(c.Action.V)
		if err != nil {
			errs.Add(c.Action.Errorf("%v", err))
		}
		action = a
	}
	var pats []string
	for _, p := range c.Patterns {
		if p.V == "" {
			errs.Add(p.Errorf("an empty pattern would match every body"))
			continue
		}
		pats = append(pats, p.V)
	}
	maxBody := c.MaxBody.Or(defaultMaxBody).Bytes()
	if maxBody > 1<<30 {
		errs.Add(c.MaxBody.Errorf("at most 1GiB, not %d bytes", maxBody))
	}
	if len(pats) == 0 {
		return nil
	}
	// content.Literal implements content.Matcher; the IDS's multi-pattern
	// matcher can take its place here.
	return content.New(content.NewLiteral(pats), pats, action, int(maxBody))
}

func init() { subcommands = append(subcommands, newProxyCommand) }

func newProxyCommand(a *app) *cobra.Command {
	var listen, allow []string
	var metrics, accessLog string
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run the filtering HTTP(S) forward proxy",
		Long: `Run rampart's forward proxy for HTTP/1.1 (keep-alive, chunked bodies; HTTP/2
towards servers that offer it) and HTTPS through CONNECT. Only clients in
proxy.allow_clients (by default loopback) are served: never an open proxy.

Requests are filtered by host (exact, or .suffix for a name and everything
under it, as Squid's dstdomain), by regular expressions on the full URL, by
method, and by ordered rules that add client networks and times of day;
host lists in hosts-file, domain-list or ||domain^ format are re-read when
they change. A blocked request gets a 403 page naming the rule. Response
bodies (HTML, JavaScript, JSON; gzip, deflate and br decoded) are scanned
for proxy.content.patterns: a match blocks the response, or strips the
<script> element that holds it.

CONNECT goes only to proxy.connect_ports (443), and the client's TLS
ClientHello must name the host of the CONNECT. Hosts in proxy.tls.intercept
are terminated with certificates of a local CA ('rampart proxy ca init'),
and their servers' certificates are verified (system roots or
proxy.tls.upstream_ca); a server that fails gets a 502 page saying why.

Responses are cached in memory per RFC 9111. The access log is Squid's
native format or JSON; a PAC file is served at /proxy.pac. SIGHUP re-reads
the configuration (a file with an error changes nothing) and reopens the
access log.

Example:
  rampart --config rampart.yaml proxy --listen 10.10.0.1:3128`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			overrides := func(cfg *proxyConfig) {
				fl := cmd.Flags()
				if fl.Changed("listen") {
					cfg.Listen = nil
					for _, l := range listen {
						cfg.Listen = append(cfg.Listen, config.FromFlag(l, "--listen"))
					}
				}
				override(fl, "metrics", &cfg.Metrics, metrics)
				override(fl, "access-log", &cfg.AccessLog, accessLog)
			}
			cfg := a.cfg.Proxy
			overrides(&cfg)
			if cmd.Flags().Changed("allow-clients") {
				cfg.AllowClients = nil
				for _, p := range allow {
					pfx, err := netip.ParsePrefix(p)
					if err != nil {
						return usageErrorf("--allow-clients %q: want a prefix such as 10.0.0.0/8", p)
					}
					cfg.AllowClients = append(cfg.AllowClients, config.Prefix{Prefix: pfx})
				}
			}
			setup, err := cfg.check()
			if err != nil {
				return err
			}
			reload := func() (*proxySetup, error) {
				c := a.cfg.Proxy
				if a.configPath != "" {
					var fc fileConfig
					if err := config.LoadFile(a.configPath, &fc); err != nil {
						return nil, err
					}
					c = fc.Proxy
				}
				overrides(&c)
				c.AllowClients = cfg.AllowClients
				return c.check()
			}
			return runProxy(cmd.Context(), a, setup, reload)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&listen, "listen", nil, "ADDRESS:PORT to serve on; repeatable (default "+defaultProxyListen+")")
	f.StringArrayVar(&allow, "allow-clients", nil, "client prefix served; repeatable (default: loopback only)")
	f.StringVar(&metrics, "metrics", "", "ADDRESS:PORT to serve Prometheus metrics (/metrics) and profiles (/debug/pprof/) on")
	f.StringVar(&accessLog, "access-log", "", "file to append the access log to")
	cmd.AddCommand(newProxyCACommand())
	return cmd
}

func newProxyCACommand() *cobra.Command {
	ca := &cobra.Command{Use: "ca", Short: "Manage the proxy's local certificate authority"}
	var dir string
	initCmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create the CA that signs the certificates of intercepted hosts",
		Long: `Create a certificate authority for TLS interception in DIR: DIR/ca.pem, the
certificate clients must trust (for example curl --cacert DIR/ca.pem, or the
browsers' and the system's trust stores), and DIR/ca.key, its ECDSA P-256 key,
mode 0600. An existing CA is never overwritten. Point proxy.tls.ca_dir at DIR.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return usageErrorf("give --dir DIR")
			}
			if err := caInit(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA created:\n  %s  (give this to clients to trust)\n  %s  (mode 0600; keep it secret)\nSet proxy.tls.ca_dir: %s\n",
				filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"), dir)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "folder for ca.pem and ca.key (created with mode 0700 if missing)")
	ca.AddCommand(initCmd)
	return ca
}

func caInit(dir string) error {
	host, _ := os.Hostname()
	return ca.Init(dir, "rampart proxy CA ("+host+")")
}

func runProxy(ctx context.Context, a *app, setup *proxySetup, reload func() (*proxySetup, error)) error {
	cfg := setup.cfg
	cfg.Logger = a.log
	cfg.Cache = cache.New(cache.Config{MaxBytes: setup.cacheBytes})
	if setup.accessLog != "" {
		l, err := proxy.OpenAccessLog(setup.accessLog, setup.accessLogFormat)
		if err != nil {
			return err
		}
		defer l.Close()
		cfg.AccessLog = l
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		return &usageError{err}
	}
	var ls []net.Listener
	for _, addr := range setup.listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return err
		}
		ls = append(ls, l)
	}
	reg := newRegistry()
	reg.MustRegister(srv.Collector())
	if err := serveMetrics(ctx, setup.metrics, reg, a.log); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	go srv.WatchLists(ctx, listCheckInterval)
	go reloadOnHUP(ctx, func() {
		next, err := reload()
		if err != nil {
			a.log.Error("configuration reload refused; the old configuration stays in force", "err", err)
			return
		}
		if !reflect.DeepEqual(next.listen, setup.listen) || next.cacheBytes != setup.cacheBytes ||
			next.accessLog != setup.accessLog || next.accessLogFormat != setup.accessLogFormat || next.metrics != setup.metrics {
			a.log.Warn("listen, cache.memory, access_log, access_log_format and metrics change only with a restart")
		}
		c := next.cfg
		c.Logger, c.Cache, c.AccessLog = cfg.Logger, cfg.Cache, cfg.AccessLog
		if err := srv.Reload(c); err != nil {
			a.log.Error("configuration reload refused; the old configuration stays in force", "err", err)
			return
		}
		if err := cfg.AccessLog.Reopen(); err != nil {
			a.log.Error("access log", "err", err)
		}
		a.log.Info("configuration reloaded")
	})
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- srv.Serve(l) }()
		a.log.Info("proxy listening", "addr", l.Addr().String())
	}
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return err
}
