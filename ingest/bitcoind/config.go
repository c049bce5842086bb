package bitcoind

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/hashatlas/hashatlas/ingest"
)

// DefaultURL is Bitcoin Core's mainnet RPC endpoint on the local host.
const DefaultURL = "http://127.0.0.1:8332"

// Config says how to reach one bitcoind. Authenticate either with the cookie file bitcoind
// writes at start (CookieFile, preferred: nothing to keep secret in configuration) or with
// rpcuser/rpcpassword (User with Password or PasswordFile), not both.
//
// Config implements fmt.Stringer so that printing it never shows the password.
type Config struct {
	// URL is the RPC endpoint, without credentials. Default: http://127.0.0.1:8332.
	URL string
	// CookieFile is the path of bitcoind's .cookie file (<datadir>/.cookie, or
	// <datadir>/<network>/.cookie on test networks). Its content, "__cookie__:<secret>", is
	// read at the first call and again whenever bitcoind answers 401, since bitcoind writes a
	// new cookie each time it starts. Default: none.
	CookieFile string
	// User is the rpcuser (or the user of an rpcauth line) when not using the cookie.
	User string
	// Password goes with User. Set it from the environment or use PasswordFile; it is never
	// logged or put in an error.
	Password string
	// PasswordFile is a file holding the password (surrounding whitespace is ignored), read
	// once by New. Used when Password is empty.
	PasswordFile string
	// HTTP sets the per-call timeout, retries, backoff, rate limit and body limit, with the
	// defaults of ingest.HTTPConfig (Timeout 30s, MaxAttempts 5, BaseBackoff 500ms,
	// MaxBackoff 60s, MaxBodyBytes 64 MiB, no rate limit). A verbosity-2 getblock of a full
	// block is tens of megabytes of JSON: keep MaxBodyBytes at 64 MiB or more.
	HTTP ingest.HTTPConfig
}

// String describes c without its password.
func (c Config) String() string {
	auth := "cookie " + c.CookieFile
	if c.User != "" {
		auth = "user " + c.User + " (password redacted)"
	}
	return fmt.Sprintf("bitcoind %s, %s, timeout %v", c.URL, auth, c.HTTP.Timeout)
}

// Validate reports the first thing wrong with c, after defaults are applied.
func (c Config) Validate() error {
	h := c.HTTP
	if h.Timeout < 0 || h.BaseBackoff < 0 || h.MaxBackoff < 0 || h.MaxAttempts < 0 || h.MaxBodyBytes < 0 || h.RequestsPerSecond < 0 {
		return errors.New("bitcoind: HTTP settings must not be negative")
	}
	c = c.withDefaults()
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("bitcoind url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("bitcoind url %q: scheme must be http or https", ingest.RedactURL(c.URL))
	}
	if u.Host == "" {
		return fmt.Errorf("bitcoind url %q: no host", ingest.RedactURL(c.URL))
	}
	if u.User != nil {
		return errors.New("bitcoind url: credentials in the URL would end up in logs: use CookieFile or User and Password")
	}
	switch {
	case c.CookieFile != "" && c.User != "":
		return errors.New("bitcoind: set either CookieFile or User, not both")
	case c.CookieFile == "" && c.User == "":
		return errors.New("bitcoind: set CookieFile (preferred) or User with Password or PasswordFile")
	case c.User != "" && c.Password == "" && c.PasswordFile == "":
		return errors.New("bitcoind: User needs Password or PasswordFile")
	case c.User != "" && strings.Contains(c.User, ":"):
		return errors.New("bitcoind: User must not contain ':'")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	c.HTTP = c.HTTP.WithDefaults()
	return c
}

// readPasswordFile returns the trimmed content of path; the error never contains it.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("bitcoind: read password file: %w", err)
	}
	p := strings.TrimSpace(string(b))
	if p == "" {
		return "", fmt.Errorf("bitcoind: password file %s is empty", path)
	}
	return p, nil
}
