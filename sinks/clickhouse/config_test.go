package clickhouse

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValidAndMatchesTheFlagDefaults(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c != DefaultConfig() {
		t.Fatalf("flag defaults %+v differ from DefaultConfig %+v", c, DefaultConfig())
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for _, name := range []string{"clickhouse.addr", "clickhouse.database", "clickhouse.username", "clickhouse.password",
		"clickhouse.password-file", "clickhouse.embedded-dir", "clickhouse.dial-timeout", "clickhouse.batch-rows",
		"clickhouse.flush-interval", "clickhouse.max-retries", "clickhouse.query-timeout", "clickhouse.cluster"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s not registered", name)
		}
	}
}

func TestValidateRejectsBadValuesNamingTheFlagAndVariable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		flag   string
	}{
		{"an address without a port", func(c *Config) { c.Addr = "localhost" }, "clickhouse.addr"},
		{"an address with a bad port", func(c *Config) { c.Addr = "localhost:ninety" }, "clickhouse.addr"},
		{"an address with port 0", func(c *Config) { c.Addr = "localhost:0" }, "clickhouse.addr"},
		{"an address with port 70000", func(c *Config) { c.Addr = "localhost:70000" }, "clickhouse.addr"},
		{"an address without a host", func(c *Config) { c.Addr = ":9000" }, "clickhouse.addr"},
		{"a URL instead of an address", func(c *Config) { c.Addr = "tcp://localhost:9000" }, "clickhouse.addr"},
		{"a list with one bad address", func(c *Config) { c.Addr = "a:9000,b" }, "clickhouse.addr"},
		{"an empty address", func(c *Config) { c.Addr = " " }, "clickhouse.addr"},
		{"an empty database", func(c *Config) { c.Database = "" }, "clickhouse.database"},
		{"a database with a dash", func(c *Config) { c.Database = "hash-atlas" }, "clickhouse.database"},
		{"a database starting with a digit", func(c *Config) { c.Database = "1db" }, "clickhouse.database"},
		{"a database with a quote", func(c *Config) { c.Database = "a`b" }, "clickhouse.database"},
		{"a database with a dot", func(c *Config) { c.Database = "a.b" }, "clickhouse.database"},
		{"the system database", func(c *Config) { c.Database = "system" }, "clickhouse.database"},
		{"a 65-character database", func(c *Config) { c.Database = strings.Repeat("a", 65) }, "clickhouse.database"},
		{"an empty username", func(c *Config) { c.Username = "" }, "clickhouse.username"},
		{"a password and a password file", func(c *Config) { c.Password = "p"; c.PasswordFile = file }, "clickhouse.password-file"},
		{"a missing password file", func(c *Config) { c.PasswordFile = file + ".missing" }, "clickhouse.password-file"},
		{"an embedded dir that is a file", func(c *Config) { c.EmbeddedDir = file }, "clickhouse.embedded-dir"},
		{"a cluster name with a dash", func(c *Config) { c.Cluster = "my-cluster" }, "clickhouse.cluster"},
		{"a cluster name with a quote", func(c *Config) { c.Cluster = "a'b" }, "clickhouse.cluster"},
		{"a cluster with the embedded engine", func(c *Config) { c.Cluster = "hashatlas"; c.EmbeddedDir = os.TempDir() }, "clickhouse.cluster"},
		{"a zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, "clickhouse.dial-timeout"},
		{"zero batch rows", func(c *Config) { c.BatchRows = 0 }, "clickhouse.batch-rows"},
		{"a negative flush interval", func(c *Config) { c.FlushInterval = -time.Second }, "clickhouse.flush-interval"},
		{"negative retries", func(c *Config) { c.MaxRetries = -1 }, "clickhouse.max-retries"},
		{"a zero query timeout", func(c *Config) { c.QueryTimeout = 0 }, "clickhouse.query-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() accepted it")
			}
			env := envName(tc.flag)
			if msg := err.Error(); !strings.Contains(msg, "--"+tc.flag+" ") || !strings.Contains(msg, env) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q is not one line naming --%s and %s", msg, tc.flag, env)
			}
		})
	}
}

func TestValidateAcceptsAddressListsAndIPv6(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9000", "ch-0.ch:9000, ch-1.ch:9000", "[::1]:9000"} {
		c := DefaultConfig()
		c.Addr = addr
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", addr, err)
		}
	}
	c := DefaultConfig()
	c.Addr = "a:1, b:2 ,"
	if got := fmt.Sprint(c.Addrs()); got != "[a:1 b:2]" {
		t.Errorf("Addrs() = %s", got)
	}
	c = DefaultConfig()
	c.Addr = "not an address"
	c.EmbeddedDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Errorf("the address is ignored with an embedded dir, but Validate() = %v", err)
	}
}

func TestThePasswordIsNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-pa55"
	c := DefaultConfig()
	c.Password = secret
	js, _ := json.Marshal(c)
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.Password), string(js), c.Masked().String()} {
		if strings.Contains(s, secret) {
			t.Errorf("password printed: %s", s)
		}
	}
	if !strings.Contains(c.String(), "password=***") {
		t.Errorf("String() = %s, want the password shown as ***", c.String())
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var fc Config
	fc.RegisterFlags(fs)
	if err := fs.Set("clickhouse.password", secret); err != nil {
		t.Fatal(err)
	}
	if v := fs.Lookup("clickhouse.password").Value.String(); v != "***" {
		t.Errorf("flag value prints %q", v)
	}
	if string(fc.Password) != secret {
		t.Errorf("flag did not set the password")
	}
}

func TestPasswordFileIsReadWithoutItsTrailingNewline(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.PasswordFile = file
	pw, err := c.password()
	if err != nil || pw != "from-file" {
		t.Fatalf("password() = %q, %v", pw, err)
	}
}
