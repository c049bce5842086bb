package ingest

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Helpers the sources' Config types share (ingest/braiins, ingest/eia, ingest/mempool, …).

// RateDefault normalises a source's RequestsPerSecond setting for HTTPConfig: 0 means the
// source's default def, a negative value means no limit (0 to HTTPClient), and any other value
// stands.
func RateDefault(rps, def float64) float64 {
	switch {
	case rps == 0:
		return def
	case rps < 0:
		return 0 // HTTPClient: unlimited
	}
	return rps
}

// HasNegative reports whether a duration, count or size of c is negative (RequestsPerSecond
// aside: sources read a negative rate as no limit).
func (c HTTPConfig) HasNegative() bool {
	return c.Timeout < 0 || c.BaseBackoff < 0 || c.MaxBackoff < 0 || c.MaxAttempts < 0 || c.MaxBodyBytes < 0
}

// CheckBaseURL checks the base URL of the named source: an http(s) URL with a host and with
// neither query nor fragment, since appended (such as "endpoint paths are appended to it") is
// added to it. Errors show the URL with secrets removed.
func CheckBaseURL(source, raw, appended string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s base url: %w", source, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s base url %q: scheme must be http or https", source, RedactURL(raw))
	}
	if u.Host == "" {
		return fmt.Errorf("%s base url %q: no host", source, RedactURL(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s base url %q: %s, so it can have no query or fragment", source, RedactURL(raw), appended)
	}
	return nil
}

// ReadSecret returns a secret given either as value or as a file holding it (surrounding white
// space ignored), not both; what names it in errors ("API key": "the API key file … is empty").
// With neither it returns "" and no error: the caller says what is missing. Errors never contain
// the secret.
func ReadSecret(value, file, what string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("give the %s or the %s file, not both", what, what)
	case file == "":
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the %s file: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("the %s file %s is empty", what, file)
	}
	return s, nil
}
