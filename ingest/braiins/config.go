package braiins

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
)

// DefaultBaseURL is Braiins Pool's site, under which the stats API lives (/stats/json/btc/).
const DefaultBaseURL = "https://pool.braiins.com"

// DefaultRequestsPerSecond is the rate limit used when Config.HTTP.RequestsPerSecond is 0:
// Braiins asks for about one request per five seconds and bans addresses that keep exceeding it
// (https://help.braiins.com/en/support/solutions/articles/77000433512-api-configuration-guide).
const DefaultRequestsPerSecond = 0.2

// DefaultMaxBodyBytes bounds an answer when Config.HTTP.MaxBodyBytes is 0. The answer is the
// pool's figures and its last 15 blocks: about 1.5 KB.
const DefaultMaxBodyBytes = 1 << 20

// DefaultPool is the registry slug of Braiins Pool (ingest/pools default registry: "Braiins Pool").
const DefaultPool = "braiinspool"

// DefaultSampleInterval is Config.SampleInterval when it is 0.
const DefaultSampleInterval = time.Hour

// TokenHeader carries the access-profile token: Pool-Auth-Token, the header Braiins Academy's
// "Monitoring" page names (https://academy.braiins.com/en/braiins-pool/monitoring/#api-configuration:
// "Pool-Auth-Token" or "X-Pool-Auth-Token"). The older help-centre article names OldTokenHeader
// (https://help.braiins.com/en/support/solutions/articles/77000433512-api-configuration-guide),
// from the days of the pool's former name, Slush Pool; it is not sent.
const TokenHeader = "Pool-Auth-Token"

// OldTokenHeader is the header the older documentation names (with X-SlushPool-Auth-Token).
// Neither is sent; both are redacted should a server echo them.
const OldTokenHeader = "SlushPool-Auth-Token"

// Config says how to reach Braiins Pool's stats API and how to date what it reports.
type Config struct {
	// BaseURL is the site the path /stats/json/<coin>/ is appended to. Default: DefaultBaseURL.
	BaseURL string
	// Coin is the coin in the path and the top-level key of the answer. Default: "btc".
	Coin string
	// Token is the access-profile token (Settings > Access Profiles > Allow access to web APIs in
	// the pool's web interface). It is sent in the TokenHeader header only, and never logged or
	// put in an error. Exactly one of Token and TokenFile is required.
	Token string
	// TokenFile is a file holding the token (surrounding white space is ignored).
	TokenFile string
	// Pool is the slug the messages carry. Default: DefaultPool ("braiinspool").
	Pool string
	// SampleInterval is how often the pool's hash rate is published. In the API's current form,
	// the 60-minute average is published when its hour starts at least max(SampleInterval, 1h)
	// after the last published hour did (less WindowSlack). In the older form, it is the bucket
	// the current scoring hash rate is filed under: a pass publishes it for the bucket containing
	// the fetch unless that bucket already has a sample. It must divide a day evenly and be at
	// least a minute. Default: DefaultSampleInterval (1h).
	SampleInterval time.Duration
	// HTTP sets the per-request timeout, retries, backoff and body limit, with the defaults of
	// ingest.HTTPConfig, except RequestsPerSecond: 0 means DefaultRequestsPerSecond here, and a
	// negative value means no limit; and MaxBodyBytes: DefaultMaxBodyBytes here.
	HTTP ingest.HTTPConfig
	// Now is the clock that dates the samples. Default: time.Now.
	Now func() time.Time
}

// Validate reports the first thing wrong with c, after defaults are applied. Its errors never
// contain the token.
func (c Config) Validate() error {
	if c.HTTP.HasNegative() {
		return errors.New("braiins: HTTP settings must not be negative (except RequestsPerSecond)")
	}
	c = c.withDefaults()
	if err := ingest.CheckBaseURL("braiins", c.BaseURL, "the stats path is appended to it"); err != nil {
		return err
	}
	for _, r := range c.Pool {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("braiins pool %q: a registry slug is lower-case letters and digits only", c.Pool)
		}
	}
	for _, r := range c.Coin {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("braiins coin %q: lower-case letters and digits only", c.Coin)
		}
	}
	switch {
	case c.Token == "" && c.TokenFile == "":
		return errors.New("braiins: an access token is required (the token or the token file)")
	case c.Token != "" && c.TokenFile != "":
		return errors.New("braiins: give the token or the token file, not both")
	case c.Token != "":
		if err := checkToken(c.Token); err != nil {
			return err
		}
	default:
		if _, err := os.Stat(c.TokenFile); err != nil {
			return fmt.Errorf("braiins token file: %w", err)
		}
	}
	if c.SampleInterval < time.Minute || (24*time.Hour)%c.SampleInterval != 0 {
		return fmt.Errorf("braiins sample interval %v: must be at least a minute and divide a day evenly", c.SampleInterval)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Coin == "" {
		c.Coin = "btc"
	}
	if c.Pool == "" {
		c.Pool = DefaultPool
	}
	if c.SampleInterval == 0 {
		c.SampleInterval = DefaultSampleInterval
	}
	c.HTTP.RequestsPerSecond = ingest.RateDefault(c.HTTP.RequestsPerSecond, DefaultRequestsPerSecond)
	if c.HTTP.MaxBodyBytes == 0 {
		c.HTTP.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// token returns the configured token, reading TokenFile when set. Errors never contain it.
func (c Config) token() (string, error) {
	t, err := ingest.ReadSecret(c.Token, c.TokenFile, "access token")
	if err != nil {
		return "", fmt.Errorf("braiins: %w", err)
	}
	if err := checkToken(t); err != nil {
		if c.TokenFile != "" {
			return "", fmt.Errorf("%s: %w", c.TokenFile, err)
		}
		return "", err
	}
	return t, nil
}

// checkToken requires what can go in an HTTP header value: printable ASCII without spaces.
func checkToken(t string) error {
	if t == "" {
		return errors.New("braiins: the access token is empty")
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("braiins: the access token has a character that cannot go in a header (byte %d of %d)", i+1, len(t))
		}
	}
	return nil
}
