package clickhouse

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config, also shown by --help.
const (
	DefaultAddr          = "127.0.0.1:9000"
	DefaultDatabase      = "hashatlas"
	DefaultUsername      = "default"
	DefaultDialTimeout   = 10 * time.Second
	DefaultBatchRows     = 100_000
	DefaultFlushInterval = time.Second
	DefaultMaxRetries    = 5
	DefaultQueryTimeout  = time.Minute
)

// Config says which ClickHouse to use and how to write to it. Register its flags with
// RegisterFlags (or fill it in code starting from DefaultConfig), then call Validate.
// The zero value is not valid; DefaultConfig is.
type Config struct {
	// Addr is the server's native-protocol address, host:port, or a comma-separated list of
	// them (tried in order). Ignored when EmbeddedDir is set. Default: 127.0.0.1:9000.
	Addr string
	// Database holds all hashatlas tables; Open creates it when missing. It must be a plain
	// identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 bytes) and not a system database.
	// Default: hashatlas.
	Database string
	// Username to log in with. Default: default.
	Username string
	// Password to log in with. Set it from the environment (HASHATLAS_CLICKHOUSE_PASSWORD)
	// or a file (PasswordFile), never on a shared command line. It is masked in every
	// printed form of Config. Default: empty.
	Password Secret
	// PasswordFile names a file holding the password (one trailing newline is dropped).
	// Mutually exclusive with Password. Default: empty.
	PasswordFile string
	// EmbeddedDir, when set, selects the embedded engine (chDB) with its data in this
	// directory instead of a server. Needs a binary built with -tags chdb and CHDB_LIB_PATH.
	// Default: empty (use the server at Addr).
	EmbeddedDir string
	// Cluster, when set, selects cluster mode: the name of a cluster in the servers'
	// remote_servers, whose replicas share their tables through ZooKeeper. Migrate then creates
	// the Replicated variant of every table engine, with ZooKeeper paths from the {shard} and
	// {replica} macros, and runs every DDL statement ON CLUSTER (see the package doc). Reads
	// and writes go to the server at Addr as in single-node mode; list every replica in Addr
	// so that a client moves to another when one is down. It must be a plain identifier and
	// needs a server (not EmbeddedDir). Default: empty (a single server).
	Cluster string
	// DialTimeout bounds connecting to the server. Default: 10s.
	DialTimeout time.Duration
	// BatchRows is the number of buffered rows at which a Writer flushes. Default: 100000.
	BatchRows int
	// FlushInterval is the longest a row waits in a Writer's buffer before it is flushed.
	// Default: 1s.
	FlushInterval time.Duration
	// MaxRetries is how many times a flush is retried after a retryable error, with
	// exponential backoff, before the error is returned. 0 disables retries. Default: 5.
	MaxRetries int
	// QueryTimeout bounds each DB.Query (reports, sql, the reads of migrations and writers):
	// a server that stops answering fails the query after this rather than after the
	// driver's 5-minute read timeout. The embedded engine cannot interrupt a running
	// statement; for it the bound applies only to waiting for it. Default: 1m.
	QueryTimeout time.Duration
	// ReadOnly opens the database for reading only: every statement runs with ClickHouse's
	// readonly = 1 setting, so the engine refuses anything that writes or changes settings
	// (IsReadOnlyRefusal tells its refusal), and Open does not create the database. The
	// embedded engine is then read-only for the whole process (chDB has one session per
	// process), so a process cannot open it read-only and writable at once. No flag: the
	// commands that offer it register their own. Default: false.
	ReadOnly bool
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Addr:          DefaultAddr,
		Database:      DefaultDatabase,
		Username:      DefaultUsername,
		DialTimeout:   DefaultDialTimeout,
		BatchRows:     DefaultBatchRows,
		FlushInterval: DefaultFlushInterval,
		MaxRetries:    DefaultMaxRetries,
		QueryTimeout:  DefaultQueryTimeout,
	}
}

// RegisterFlags registers the clickhouse.* flags on fs, with the defaults of DefaultConfig.
// The environment fallback (HASHATLAS_CLICKHOUSE_ADDR, …) is the caller's job.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	d := DefaultConfig()
	fs.StringVar(&c.Addr, "clickhouse.addr", d.Addr, "ClickHouse server native-protocol address host:port; a comma-separated list is tried in order (ignored with --clickhouse.embedded-dir)")
	fs.StringVar(&c.Database, "clickhouse.database", d.Database, "ClickHouse database for all hashatlas tables, created if missing")
	fs.StringVar(&c.Username, "clickhouse.username", d.Username, "ClickHouse user name")
	c.Password = "" // flag.Var keeps the current value as the default: start empty
	fs.Var(&c.Password, "clickhouse.password", "ClickHouse password; prefer the environment variable or --clickhouse.password-file (a command line is visible to other users)")
	fs.StringVar(&c.PasswordFile, "clickhouse.password-file", "", "file holding the ClickHouse password")
	fs.StringVar(&c.EmbeddedDir, "clickhouse.embedded-dir", "", "use the embedded ClickHouse engine (chDB) with its data in this directory instead of a server")
	fs.StringVar(&c.Cluster, "clickhouse.cluster", "", "cluster mode: the name of a cluster (one shard of replicas) in the servers' remote_servers; migrations then create Replicated tables (ZooKeeper paths from the {shard} and {replica} macros) with ON CLUSTER DDL. List every replica in --clickhouse.addr")
	fs.DurationVar(&c.DialTimeout, "clickhouse.dial-timeout", d.DialTimeout, "timeout for connecting to the ClickHouse server")
	fs.IntVar(&c.BatchRows, "clickhouse.batch-rows", d.BatchRows, "flush a table's buffered rows once this many are buffered")
	fs.DurationVar(&c.FlushInterval, "clickhouse.flush-interval", d.FlushInterval, "flush buffered rows at least this often")
	fs.IntVar(&c.MaxRetries, "clickhouse.max-retries", d.MaxRetries, "retries of a failed flush on retryable errors, with exponential backoff (0: none)")
	fs.DurationVar(&c.QueryTimeout, "clickhouse.query-timeout", d.QueryTimeout, "longest wait for the answer to one query (reports, sql and the reads of other commands); the embedded engine cannot stop a statement it has begun")
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate checks every field and returns one line naming the flag and its environment
// variable for the first problem found. It reads nothing but the password file's metadata.
func (c Config) Validate() error {
	if c.EmbeddedDir == "" {
		if err := validateAddrs(c.Addr); err != nil {
			return flagErr("clickhouse.addr", c.Addr, err.Error())
		}
	} else if fi, err := os.Stat(c.EmbeddedDir); err == nil && !fi.IsDir() {
		return flagErr("clickhouse.embedded-dir", c.EmbeddedDir, "exists and is not a directory")
	}
	if err := ValidateIdentifier(c.Database); err != nil {
		return flagErr("clickhouse.database", c.Database, err.Error())
	}
	if c.Cluster != "" {
		if err := ValidateIdentifier(c.Cluster); err != nil {
			return flagErr("clickhouse.cluster", c.Cluster, err.Error())
		}
		if c.EmbeddedDir != "" {
			return flagErr("clickhouse.cluster", c.Cluster, "needs a ClickHouse server: the embedded engine (--clickhouse.embedded-dir, env HASHATLAS_CLICKHOUSE_EMBEDDED_DIR) is a single node")
		}
	}
	switch strings.ToLower(c.Database) {
	case "system", "information_schema":
		return flagErr("clickhouse.database", c.Database, "is a built-in database; choose another name")
	}
	if c.Username == "" {
		return flagErr("clickhouse.username", c.Username, "must not be empty")
	}
	if c.Password != "" && c.PasswordFile != "" {
		return flagErr("clickhouse.password-file", c.PasswordFile, "is set together with --clickhouse.password (env HASHATLAS_CLICKHOUSE_PASSWORD); set only one")
	}
	if c.PasswordFile != "" {
		if fi, err := os.Stat(c.PasswordFile); err != nil {
			return flagErr("clickhouse.password-file", c.PasswordFile, "cannot be read: "+err.Error())
		} else if fi.IsDir() {
			return flagErr("clickhouse.password-file", c.PasswordFile, "is a directory")
		}
	}
	if c.DialTimeout <= 0 {
		return flagErr("clickhouse.dial-timeout", c.DialTimeout.String(), "must be positive")
	}
	if c.BatchRows < 1 {
		return flagErr("clickhouse.batch-rows", strconv.Itoa(c.BatchRows), "must be at least 1")
	}
	if c.FlushInterval <= 0 {
		return flagErr("clickhouse.flush-interval", c.FlushInterval.String(), "must be positive")
	}
	if c.MaxRetries < 0 {
		return flagErr("clickhouse.max-retries", strconv.Itoa(c.MaxRetries), "must not be negative")
	}
	if c.QueryTimeout <= 0 {
		return flagErr("clickhouse.query-timeout", c.QueryTimeout.String(), "must be positive")
	}
	return nil
}

// ValidateIdentifier checks that name can be used unquoted as a database, table or column
// name on every ClickHouse version we support.
func ValidateIdentifier(name string) error {
	if !identifier.MatchString(name) {
		return errors.New("must be a letter or underscore followed by letters, digits or underscores, at most 64 characters")
	}
	return nil
}

// Addrs returns the server addresses of Addr, trimmed, in order.
func (c Config) Addrs() []string {
	var out []string
	for _, a := range strings.Split(c.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func validateAddrs(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must be host:port (or a comma-separated list of them)")
	}
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return fmt.Errorf("%q is not host:port", a)
		}
		if strings.ContainsAny(host, "/ ") {
			return fmt.Errorf("%q has an invalid host %q", a, host)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has an invalid port %q (want 1-65535)", a, port)
		}
	}
	return nil
}

// envName is the environment variable the command line reads for a flag.
func envName(flagName string) string {
	return "HASHATLAS_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

// flagErr is the one-line error for an invalid flag value, in the wording of cmd/hashatlas.
func flagErr(name, value, reason string) error {
	return fmt.Errorf("invalid --%s %q (env %s): %s", name, value, envName(name), reason)
}

// password returns the password from Password or PasswordFile.
func (c Config) password() (string, error) {
	if c.PasswordFile == "" {
		return string(c.Password), nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("read --clickhouse.password-file: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// WriterConfig returns the writer settings of c (batch size, flush interval, retries).
func (c Config) WriterConfig() WriterConfig {
	return WriterConfig{BatchRows: c.BatchRows, FlushInterval: c.FlushInterval, MaxRetries: c.MaxRetries}
}

// Masked returns a copy of c whose password is replaced by "***" (when set), for printing.
func (c Config) Masked() Config {
	if c.Password != "" {
		c.Password = "***"
	}
	return c
}

// String prints the configuration with the password masked.
func (c Config) String() string {
	m := c.Masked()
	target := "server " + m.Addr
	if m.EmbeddedDir != "" {
		target = "embedded " + m.EmbeddedDir
	} else if m.Cluster != "" {
		target += " cluster=" + m.Cluster
	}
	return fmt.Sprintf("clickhouse %s database=%s username=%s password=%s password_file=%s dial_timeout=%s batch_rows=%d flush_interval=%s max_retries=%d query_timeout=%s read_only=%t",
		target, m.Database, m.Username, string(m.Password), m.PasswordFile, m.DialTimeout, m.BatchRows, m.FlushInterval, m.MaxRetries, m.QueryTimeout, m.ReadOnly)
}

// Secret is a string that never prints: String, GoString and MarshalText give "***" (or ""
// when empty), so a Config can be logged or printed with %v or %+v safely. Convert with
// string(s) to use the value. It implements flag.Value.
type Secret string

// String returns "***", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// GoString masks the secret for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText masks the secret in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Set stores the secret (flag.Value).
func (s *Secret) Set(v string) error { *s = Secret(v); return nil }
