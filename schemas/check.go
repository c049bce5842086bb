package schemas

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// The check functions return "" when a value obeys a rule and the reason
// otherwise. They are plain loops over bytes, so that validating a valid
// message allocates nothing.

// Bounds every time in every message must fall within. They catch zero
// times, local-time mix-ups far off and seconds/milliseconds confusions.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

const (
	// MaxNameLen is the longest pool slug, source, region, entity, method,
	// model version or consumer group accepted, in bytes.
	MaxNameLen = 128
	// MinIntervalSeconds and MaxIntervalSeconds bound interval_seconds of
	// pool statistics and grid observations (1 second to 10 × 366 days).
	MinIntervalSeconds = 1
	MaxIntervalSeconds = 10 * 366 * 24 * 3600
)

// checkTime requires a time within [minTime, maxTime). Its location does not
// matter: times are instants, written in UTC by Encode and in keys, so a
// time.Time in time.Local is as good as one in time.UTC (validation must not
// depend on the machine's time zone).
func checkTime(t time.Time) string {
	if t.IsZero() {
		return "is required"
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return "must be between 2000-01-01T00:00:00Z and 2200-01-01T00:00:00Z, found " + t.Format(time.RFC3339Nano)
	}
	return ""
}

// checkName is the rule for free identifiers (source, region, method, model
// version, consumer group, entity): 1 to MaxNameLen bytes of printable ASCII
// without spaces and without '|', which separates the parts of Kafka keys.
func checkName(s string) string {
	if s == "" {
		return "is required"
	}
	return checkNameChars(s)
}

func checkNameChars(s string) string {
	if len(s) > MaxNameLen {
		return "must be at most " + strconv.Itoa(MaxNameLen) + " bytes"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '|' {
			return "must be printable ASCII without spaces or '|', found " + strconv.Quote(s)
		}
	}
	return ""
}

// checkSlug is the rule for pool slugs: the registry name lower-cased with
// everything outside [a-z0-9] removed ("Foundry USA" → "foundryusa"), plus
// the characters "()._-" that some historical slugs in replayed files carry
// ("btcpool(unidentified)"). "unknown" is a valid slug.
func checkSlug(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > MaxNameLen {
		return "must be at most " + strconv.Itoa(MaxNameLen) + " bytes"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '(' || c == ')' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return "must be a pool slug of [a-z0-9()._-], found " + strconv.Quote(s)
	}
	return ""
}

// checkCountry: ISO 3166-1 alpha-2, upper case; "XX" means unallocated.
func checkCountry(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return "must be an ISO 3166-1 alpha-2 code in upper case (or XX), found " + strconv.Quote(s)
	}
	return ""
}

// lowerHex marks the bytes 0-9 and a-f.
var lowerHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdef" {
		t[c] = true
	}
	return t
}()

// checkHash: 64 lower-case hex characters (a block hash in RPC byte order).
func checkHash(s string) string {
	if len(s) != 64 || !isLowerHex(s) {
		return "must be 64 lower-case hex characters, found " + strconv.Quote(s)
	}
	return ""
}

// checkFinite rejects NaN and ±Inf, which JSON cannot carry.
func checkFinite(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "must be a finite number"
	}
	return ""
}

func checkInterval(s int64) string {
	if s < MinIntervalSeconds || s > MaxIntervalSeconds {
		return "must be between " + strconv.Itoa(MinIntervalSeconds) + " and " + strconv.Itoa(MaxIntervalSeconds) + " seconds, found " + strconv.FormatInt(s, 10)
	}
	return ""
}

// checkEnum requires s to be one of values.
func checkEnum(s string, values []string) string {
	for _, v := range values {
		if s == v {
			return ""
		}
	}
	if s == "" {
		return "is required, one of " + strings.Join(values, ", ")
	}
	return "must be one of " + strings.Join(values, ", ") + ", found " + strconv.Quote(s)
}

// checkSchemaField accepts an empty schema field (Encode fills it in) or the
// type's own name.
func checkSchemaField(got, want string) string {
	if got != "" && got != want {
		return "is " + strconv.Quote(got) + " on a " + want + " message"
	}
	return ""
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
