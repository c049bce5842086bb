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

// Bounds every time in every message must fall within: from the genesis block
// (nothing hashatlas stores is older than Bitcoin) to FutureAllowance past
// the validating machine's clock. They catch zero times, local-time mix-ups,
// seconds/milliseconds confusions and far-future header times, and they keep
// every accepted time inside the range of ClickHouse's DateTime columns
// (1970-01-01 to 2106-02-07), so that a valid message can always be stored.
var (
	// GenesisTime is the header time of block 0, the earliest time accepted.
	GenesisTime = time.Date(2009, 1, 3, 18, 15, 5, 0, time.UTC)
	minTime     = GenesisTime
	// maxStorableTime is the last second a DateTime column holds.
	maxStorableTime = time.Date(2106, 2, 7, 6, 28, 15, 0, time.UTC)
)

// FutureAllowance is how far past the validating machine's clock a time may
// lie. Block header times may run two hours ahead of the network's clock by
// consensus; a week more covers collectors with skewed clocks and grid
// operators' day-ahead rows. Estimates' window ends lie further (a year
// window ends on the next 1 January): see maxWindowEnd.
const FutureAllowance = 7 * 24 * time.Hour

// MaxHeight is the largest block height accepted: heights are stored as
// UInt32 (at one block every ten minutes, reached in the year 83,700).
const MaxHeight = math.MaxUint32

// MaxCount is the largest count (transactions, blocks) accepted: counts are
// stored as UInt32.
const MaxCount = math.MaxUint32

// now is the clock of the time bounds; tests may replace it.
var now = time.Now

// latestTime is the latest time accepted now.
func latestTime() time.Time { return now().Add(FutureAllowance) }

const (
	// MaxNameLen is the longest pool slug, source, region, entity, method,
	// model version or consumer group accepted, in bytes.
	MaxNameLen = 128
	// MinIntervalSeconds and MaxIntervalSeconds bound interval_seconds of
	// pool statistics and grid observations (1 second to 10 × 366 days).
	MinIntervalSeconds = 1
	MaxIntervalSeconds = 10 * 366 * 24 * 3600
)

// checkTime requires a time within [GenesisTime, now + FutureAllowance]. Its
// location does not matter: times are instants, written in UTC by Encode and
// in keys, so a time.Time in time.Local is as good as one in time.UTC
// (validation must not depend on the machine's time zone).
func checkTime(t time.Time) string {
	return checkTimeUntil(t, latestTime())
}

// checkTimeUntil requires a time within [GenesisTime, limit] (limit capped at
// the last storable second).
func checkTimeUntil(t, limit time.Time) string {
	if t.IsZero() {
		return "is required"
	}
	if limit.After(maxStorableTime) {
		limit = maxStorableTime
	}
	if t.Before(minTime) || t.After(limit) {
		return "must be between the genesis block (2009-01-03T18:15:05Z) and " + limit.UTC().Format(time.RFC3339) +
			" (" + FutureAllowance.String() + " past now), found " + t.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// checkCount requires a count within [0, MaxCount].
func checkCount(n int64) string {
	if n < 0 || n > MaxCount {
		return "must be between 0 and " + strconv.FormatInt(MaxCount, 10) + ", found " + strconv.FormatInt(n, 10)
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
