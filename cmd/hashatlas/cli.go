package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
)

// envPrefix is prepended to a flag's upper-cased name (dots and dashes become underscores) to
// give its environment fallback: --kafka.brokers is HASHATLAS_KAFKA_BROKERS.
const envPrefix = "HASHATLAS_"

var errHelp = errors.New("help requested")

// cli holds what every subcommand shares: its flag set, the logging and metrics flags, the
// validators registered by the components it uses, and what to release when it ends.
type cli struct {
	name   string
	fs     *flag.FlagSet
	stdout io.Writer
	stderr io.Writer

	logFormat     string
	logLevel      string
	metricsListen string
	checkConfig   bool

	shutdownTimeout time.Duration
	shutdown        *shutdown // the budget's deadlines once run started it (shutdown.go)

	validators []func() error
	sources    map[string]string // flag name -> "flag" | "env"
	closers    []func()

	log      *logrus.Logger
	registry *prometheus.Registry

	readyMu sync.Mutex
	ready   func(ctx context.Context) error // nil: ready
}

// setReadiness installs the check behind /readyz.
func (c *cli) setReadiness(f func(ctx context.Context) error) {
	c.readyMu.Lock()
	c.ready = f
	c.readyMu.Unlock()
}

// probeHandler serves /healthz (the process answers) and /readyz (the command's readiness
// check passes: 200 "ready", else 503 with the reason).
func (c *cli) probeHandler(mux *http.ServeMux) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		c.readyMu.Lock()
		f := c.ready
		c.readyMu.Unlock()
		if f != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := f(ctx); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}

func newCLI(name string, stdout, stderr io.Writer) *cli {
	c := &cli{
		name:    name,
		fs:      flag.NewFlagSet("hashatlas "+name, flag.ContinueOnError),
		stdout:  stdout,
		stderr:  stderr,
		sources: map[string]string{},
	}
	c.fs.SetOutput(io.Discard)
	c.fs.StringVar(&c.logFormat, "log.format", "text", "log format: text (for terminals) or json (for log collectors)")
	c.fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn or error")
	c.fs.StringVar(&c.metricsListen, "metrics.listen", "", "serve /metrics (Prometheus), /healthz and /readyz on this host:port while the command runs (empty: off)")
	c.fs.BoolVar(&c.checkConfig, "check-config", false, "validate the configuration, print it with secrets masked, and exit 0 (valid) or 2 (invalid)")
	c.fs.DurationVar(&c.shutdownTimeout, "shutdown.timeout", defaultShutdownTimeout,
		"once SIGTERM or SIGINT arrives, the command ends within this: the last flush and offset commit, then closing, then exit whatever is still running (input not committed is delivered again at the next start); a second signal ends it at once")
	c.addValidator(c.validateCommon)
	c.addValidator(c.validateShutdown)
	c.registerPush() // --metrics.pushgateway on one-shot commands (push.go)
	return c
}

// addValidator registers a component's Validate, called after flags and environment are read.
func (c *cli) addValidator(v func() error) { c.validators = append(c.validators, v) }

// onClose registers a release function; they run in reverse order when the command ends.
func (c *cli) onClose(f func()) { c.closers = append(c.closers, f) }

func (c *cli) close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
}

// envName is the environment variable that backs a flag.
func envName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return envPrefix + strings.ToUpper(r.Replace(flagName))
}

// parse reads the command line, then the environment for every flag not given on the command
// line, then runs all validators. Every error is one line naming the flag and its variable.
func (c *cli) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return describeFlagError(err)
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags are --name=value)", c.fs.Arg(0))
	}
	c.fs.Visit(func(f *flag.Flag) { c.sources[f.Name] = "flag" })
	var envErr error
	c.fs.VisitAll(func(f *flag.Flag) {
		if envErr != nil || c.sources[f.Name] != "" {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if err := c.fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("invalid value %q in %s (flag --%s): %v", maskIfSecret(f.Name, v), envName(f.Name), f.Name, err)
			return
		}
		c.sources[f.Name] = "env"
	})
	if envErr != nil {
		return envErr
	}
	for _, v := range c.validators {
		if err := v(); err != nil {
			return err
		}
	}
	return nil
}

// describeFlagError rewrites the flag package's parse errors so they name the variable too.
func describeFlagError(err error) error {
	msg := err.Error()
	// The flag package says `invalid value "x" for flag -name: reason`, or for booleans
	// `invalid boolean value "x" for -name: reason`.
	for _, marker := range []string{" for flag -", " for -"} {
		if i := strings.Index(msg, marker); i >= 0 {
			rest := msg[i+len(marker):]
			name, reason, _ := strings.Cut(rest, ": ")
			return fmt.Errorf("%s for --%s (env %s): %s", msg[:i], name, envName(name), reason)
		}
	}
	if strings.HasPrefix(msg, "flag provided but not defined: -") {
		name := strings.TrimPrefix(msg, "flag provided but not defined: -")
		return fmt.Errorf("unknown flag --%s (see --help)", strings.TrimPrefix(name, "-"))
	}
	return err
}

func (c *cli) validateCommon() error {
	switch c.logFormat {
	case "text", "json":
	default:
		return flagErr("log.format", c.logFormat, "must be text or json")
	}
	if _, err := logrus.ParseLevel(c.logLevel); err != nil || c.logLevel == "panic" || c.logLevel == "fatal" || c.logLevel == "trace" {
		return flagErr("log.level", c.logLevel, "must be debug, info, warn or error")
	}
	if c.metricsListen != "" {
		if _, port, err := net.SplitHostPort(c.metricsListen); err != nil || port == "" {
			return flagErr("metrics.listen", c.metricsListen, "must be host:port or :port")
		}
	}
	return nil
}

// flagErr is the one-line error for an invalid flag value.
func flagErr(name, value, reason string) error {
	return fmt.Errorf("invalid --%s %q (env %s): %s", name, maskIfSecret(name, value), envName(name), reason)
}

// secretFlag reports whether a flag holds a secret that must never be printed or logged.
func secretFlag(name string) bool {
	for _, s := range []string{"password", "secret", "token", "api-key", "apikey"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

func maskIfSecret(name, value string) string {
	if secretFlag(name) && value != "" {
		return "***"
	}
	return value
}

// printConfig prints the effective configuration, one flag a line, with where each value
// came from; secrets are masked.
func (c *cli) printConfig() {
	fmt.Fprintf(c.stdout, "# hashatlas %s: configuration is valid\n", c.name)
	var lines []string
	c.fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "check-config" {
			return
		}
		src := c.sources[f.Name]
		if src == "" {
			src = "default"
		} else if src == "env" {
			src = "env " + envName(f.Name)
		}
		lines = append(lines, fmt.Sprintf("%s=%s\t# %s", f.Name, maskIfSecret(f.Name, f.Value.String()), src))
	})
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(c.stdout, l)
	}
}

func (c *cli) printHelp(cmd command) {
	fmt.Fprintf(c.stdout, "hashatlas %s: %s\n\nUsage: hashatlas %s", c.name, cmd.summary, c.name)
	if cmd.args != "" {
		fmt.Fprintf(c.stdout, " %s", cmd.args)
	}
	fmt.Fprintf(c.stdout, " [flags]\n")
	if cmd.more != "" {
		fmt.Fprintf(c.stdout, "%s\n", cmd.more)
	}
	fmt.Fprintf(c.stdout, "\nFlags (each also read from its environment variable):\n")
	c.fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(c.stdout, "  --%s (%s, default %s)\n      %s\n", f.Name, envName(f.Name), def, f.Usage)
	})
}

// logger builds the command's logger from --log.format and --log.level (both validated).
func (c *cli) logger() *logrus.Logger {
	if c.log != nil {
		return c.log
	}
	l := logrus.New()
	l.SetOutput(c.stderr)
	if c.logFormat == "json" {
		l.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	} else {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339})
	}
	lvl, _ := logrus.ParseLevel(c.logLevel)
	l.SetLevel(lvl)
	c.log = l
	return l
}

// metrics returns the command's Prometheus registry, and serves it on --metrics.listen when set.
func (c *cli) metrics() (*prometheus.Registry, error) {
	if c.registry != nil {
		return c.registry, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.registry = reg
	if c.metricsListen == "" {
		return reg, nil
	}
	ln, err := net.Listen("tcp", c.metricsListen)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s (--metrics.listen / %s): %w", c.metricsListen, envName("metrics.listen"), err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	c.probeHandler(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	c.onClose(func() { _ = srv.Close() })
	c.logger().WithField("addr", ln.Addr().String()).Info("serving metrics")
	return reg, nil
}

// helpAsked reports whether args ask for help (-h, -help, --help) before a "--".
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// splitPositional separates the positional arguments of a command line from its flags, so
// that flags may come before, between or after them: `sql --format csv "SELECT 1"` is the
// query "SELECT 1" with --format csv. An argument is a flag when it is -name or --name
// (optionally =value) with a name of letters, digits, '.', '_' and '-'; a flag registered on
// fs that is not boolean takes the next argument as its value unless it has =value. Anything
// else — a query that starts with "-- comment", say — is positional, as is everything after
// "--". Unknown flags are kept as flags, for the parser to name.
func splitPositional(fs *flag.FlagSet, args []string) (positional, flags []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		name, isFlag := flagName(a)
		if !isFlag {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if strings.Contains(a, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return positional, flags
}

// flagName returns the name of a flag argument (-name, --name, --name=value).
func flagName(a string) (string, bool) {
	if len(a) < 2 || a[0] != '-' {
		return "", false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, _, _ = strings.Cut(name, "=")
	if name == "" || name[0] == '-' {
		return "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "", false
		}
	}
	return name, true
}
