package eia

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
)

// Defaults of Config.
const (
	// DefaultBaseURL is the root of the EIA Open Data API v2 that routes are appended to.
	DefaultBaseURL = "https://api.eia.gov/v2"
	// MaxPageLength is the most rows the API returns for one JSON request; a larger length
	// is cut to it with an "incomplete return" warning
	// (https://www.eia.gov/opendata/documentation.php, changelog v2.0.3 and "length").
	MaxPageLength = 5000
	// DefaultRequestsPerSecond is the request rate limit. EIA documents no rate; one request
	// a second keeps a regular pass (two routes per respondent) well inside any fair use and
	// a five-year backfill of ten respondents under ten minutes.
	DefaultRequestsPerSecond = 1
	// DefaultTimeout bounds one request, body included (a full page is about 1.5 MB).
	DefaultTimeout = 60 * time.Second
	// DefaultMaxBodyBytes bounds an answer: a full page of 5,000 rows of about 250 bytes each
	// is some 1.5 MB.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultRevisionWindow is how far before the last published hour a regular pass reads
	// again, so that values EIA revised (balancing authorities resubmit, EIA fills gaps) are
	// published again. Each revised value is logged.
	DefaultRevisionWindow = 48 * time.Hour
	// DefaultFirstRun is how far back a pass starts for a respondent the topic has nothing
	// of, when no --from is given.
	DefaultFirstRun = 7 * 24 * time.Hour
)

// DefaultRespondents are the balancing authorities collected by default: the largest by
// demand, across every U.S. interconnection.
var DefaultRespondents = []string{"ERCO", "PJM", "MISO", "CISO", "SWPP", "NYIS", "ISNE", "SOCO", "TVA", "BPAT"}

// regionTypes maps the region-data route's type codes to grid metrics: demand, day-ahead
// demand forecast, net generation and total interchange (positive: net export, as in
// schemas.GridInterchange). https://www.eia.gov/opendata/browser/electricity/rto/region-data
var regionTypes = map[string]string{
	"D":  schemas.GridDemand,
	"DF": schemas.GridDemandForecast,
	"NG": schemas.GridNetGeneration,
	"TI": schemas.GridInterchange,
}

// fuelTypes maps the fuel-type-data route's fueltype codes to generation_<fuel> metrics, as
// schemas.GridFuels documents. Codes EIA adds later (storage hybrids and the like) are not
// requested; if one arrives it is counted and skipped.
var fuelTypes = map[string]string{
	"COL": schemas.GridGenerationPrefix + "coal",
	"NG":  schemas.GridGenerationPrefix + "gas",
	"OIL": schemas.GridGenerationPrefix + "oil",
	"NUC": schemas.GridGenerationPrefix + "nuclear",
	"WAT": schemas.GridGenerationPrefix + "hydro",
	"WND": schemas.GridGenerationPrefix + "wind",
	"SUN": schemas.GridGenerationPrefix + "solar",
	"GEO": schemas.GridGenerationPrefix + "geothermal",
	"BAT": schemas.GridGenerationPrefix + "battery",
	"PS":  schemas.GridGenerationPrefix + "pumped_storage",
	"OTH": schemas.GridGenerationPrefix + "other",
	"UNK": schemas.GridGenerationPrefix + "unknown",
}

// DefaultTypes returns every region-data type code (D, DF, NG, TI), sorted; the caller owns
// the slice.
func DefaultTypes() []string { return sortedKeys(regionTypes) }

// DefaultFuelTypes returns every fueltype code hashatlas maps, sorted; the caller owns the
// slice.
func DefaultFuelTypes() []string { return sortedKeys(fuelTypes) }

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Config says how to reach the API and what to collect.
type Config struct {
	// BaseURL is the API root the routes are appended to. Default: https://api.eia.gov/v2.
	BaseURL string
	// APIKey is the EIA API key (register at https://www.eia.gov/opendata/register.php). It is
	// sent as the api_key query parameter, the documented way, and never logged: URLs in logs
	// and errors have it replaced by REDACTED, as has any answer quoted in an error (an echo of
	// the request, say: see ingest.Redactor). Give it or APIKeyFile.
	APIKey string
	// APIKeyFile is a file holding the API key (surrounding white space is ignored).
	APIKeyFile string
	// Respondents are the balancing authorities (EIA respondent codes) to collect; each must
	// be in the regions table. Default: DefaultRespondents.
	Respondents []string
	// Types are the region-data type codes to collect (D, DF, NG, TI); empty: none. When
	// Types and FuelTypes are both nil: every code of both routes.
	Types []string
	// FuelTypes are the fuel-type-data codes to collect (DefaultFuelTypes); empty: none.
	FuelTypes []string
	// From, when set, makes the pass a backfill: it reads from From (an hour, UTC) whatever
	// the topic holds, publishing only what is new or revised. Zero: resume from the topic.
	From time.Time
	// To, when set, ends the pass at To (exclusive, an hour, UTC). Zero: the current hour
	// (every interval that has ended).
	To time.Time
	// FirstRun is how far before To a respondent the topic has nothing of starts, when From
	// is zero. Default: DefaultFirstRun (7 days).
	FirstRun time.Duration
	// RevisionWindow is how far before its last published hour a respondent is read again.
	// Default: DefaultRevisionWindow (48 h).
	RevisionWindow time.Duration
	// PageLength is the rows asked for per request, 1 to MaxPageLength. Default: 5000.
	PageLength int
	// Window is the span of one query (each query is paged by offset). Default: the span
	// whose rows fill about one page (PageLength / number of codes, in hours).
	Window time.Duration
	// HTTP sets timeouts, retries and limits, with the defaults of ingest.HTTPConfig except
	// Timeout (DefaultTimeout), MaxBodyBytes (DefaultMaxBodyBytes) and RequestsPerSecond (0
	// means DefaultRequestsPerSecond; a negative value means no limit, for a local server).
	HTTP ingest.HTTPConfig
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Validate checks c after defaults are applied, reading the key file if one is given. Errors
// never contain the key.
func (c Config) Validate() error {
	c = c.withDefaults()
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base url %q: want an http(s) URL with a host", ingest.RedactURL(c.BaseURL))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("base url %q: routes are appended to it, so it can have no query or fragment", ingest.RedactURL(c.BaseURL))
	}
	if _, err := c.apiKey(); err != nil {
		return err
	}
	if len(c.Respondents) == 0 {
		return errors.New("no respondents to collect")
	}
	for _, r := range c.Respondents {
		if r == "" || strings.ToUpper(r) != r || strings.ContainsAny(r, " ,|") {
			return fmt.Errorf("respondent %q: want an EIA respondent code in upper case (ERCO, PJM, …)", r)
		}
	}
	if err := checkCodes("type", c.Types, regionTypes); err != nil {
		return err
	}
	if err := checkCodes("fuel type", c.FuelTypes, fuelTypes); err != nil {
		return err
	}
	if len(c.Types) == 0 && len(c.FuelTypes) == 0 {
		return errors.New("nothing to collect: no types and no fuel types")
	}
	if c.PageLength < 1 || c.PageLength > MaxPageLength {
		return fmt.Errorf("page length %d: want 1 to %d (the API's maximum for JSON)", c.PageLength, MaxPageLength)
	}
	for name, t := range map[string]time.Time{"from": c.From, "to": c.To} {
		if !t.IsZero() && !t.Equal(t.Truncate(time.Hour)) {
			return fmt.Errorf("%s %s: want a whole hour (UTC)", name, t.UTC().Format(time.RFC3339))
		}
	}
	if !c.From.IsZero() && !c.To.IsZero() && !c.From.Before(c.To) {
		return fmt.Errorf("from %s is not before to %s", c.From.UTC().Format(time.RFC3339), c.To.UTC().Format(time.RFC3339))
	}
	if c.FirstRun < time.Hour || c.RevisionWindow < 0 {
		return fmt.Errorf("first run %v must be at least 1h and revision window %v not negative", c.FirstRun, c.RevisionWindow)
	}
	if c.Window != 0 && (c.Window < time.Hour || c.Window%time.Hour != 0) {
		return fmt.Errorf("window %v: want whole hours", c.Window)
	}
	if c.HTTP.HasNegative() {
		return errors.New("HTTP settings must not be negative (except requests per second)")
	}
	return nil
}

func checkCodes(what string, codes []string, known map[string]string) error {
	seen := map[string]bool{}
	for _, c := range codes {
		if _, ok := known[c]; !ok {
			return fmt.Errorf("%s %q: want one of %s", what, c, strings.Join(sortedKeys(known), ", "))
		}
		if seen[c] {
			return fmt.Errorf("%s %q given twice", what, c)
		}
		seen[c] = true
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Respondents == nil {
		c.Respondents = append([]string(nil), DefaultRespondents...)
	}
	if c.Types == nil && c.FuelTypes == nil {
		c.Types, c.FuelTypes = DefaultTypes(), DefaultFuelTypes()
	}
	if c.FirstRun == 0 {
		c.FirstRun = DefaultFirstRun
	}
	if c.RevisionWindow == 0 {
		c.RevisionWindow = DefaultRevisionWindow
	}
	if c.PageLength == 0 {
		c.PageLength = MaxPageLength
	}
	if c.HTTP.Timeout == 0 {
		c.HTTP.Timeout = DefaultTimeout
	}
	if c.HTTP.MaxBodyBytes == 0 {
		c.HTTP.MaxBodyBytes = DefaultMaxBodyBytes
	}
	c.HTTP.RequestsPerSecond = ingest.RateDefault(c.HTTP.RequestsPerSecond, DefaultRequestsPerSecond)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// minKeyLen is the shortest key accepted. EIA keys are 40 letters and digits; a key of a few
// characters would be redacted out of every error where those characters occur.
const minKeyLen = 8

// apiKey returns the key from APIKey or APIKeyFile.
func (c Config) apiKey() (string, error) {
	key, err := ingest.ReadSecret(c.APIKey, c.APIKeyFile, "API key")
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", errors.New("no API key: register one at https://www.eia.gov/opendata/register.php and give it by environment or file")
	}
	if len(key) < minKeyLen || len(key) > 128 {
		return "", fmt.Errorf("the API key is %d characters long; EIA keys are 40 (want %d to 128)", len(key), minKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if ch := key[i]; !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || ch == '-' || ch == '_') {
			return "", fmt.Errorf("the API key has a character at position %d that is not a letter, digit, '-' or '_'", i+1)
		}
	}
	return key, nil
}
