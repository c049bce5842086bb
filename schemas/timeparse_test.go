package schemas

import (
	"math/rand/v2"
	"testing"
	"time"
)

// agreeWithUnmarshalText fails t when parseUTC accepts s and time.Time.UnmarshalText does not,
// or gives another time (compared as values, location included).
func agreeWithUnmarshalText(t *testing.T, s string) {
	t.Helper()
	got, ok := parseUTC([]byte(s))
	if !ok {
		return // the decoder falls back to UnmarshalText
	}
	var want time.Time
	if err := want.UnmarshalText([]byte(s)); err != nil {
		t.Fatalf("parseUTC accepts %q, UnmarshalText refuses it: %v", s, err)
	}
	if want = want.UTC(); got != want {
		t.Fatalf("parseUTC(%q) = %v, UnmarshalText gives %v", s, got, want)
	}
}

// TestParseUTCAgreesWithUnmarshalText: on what Encode writes and on strings near it (every field
// at and beyond its range, fractions of every length, leap days, other separators, offsets),
// parseUTC either declines or returns exactly what the general parser returns; and it accepts
// every time Encode writes.
func TestParseUTCAgreesWithUnmarshalText(t *testing.T) {
	for _, s := range []string{
		"2024-04-20T00:09:27Z", "2024-04-20T00:10:02.123456789Z", "2024-04-20T00:10:02.1Z",
		"2024-02-29T23:59:59Z", "2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
		"2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-01-00T00:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-01-01T23:59:60Z", "2024-01-01t00:00:00Z",
		"2024-01-01T00:00:00z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z",
		"2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00,5Z", "2024-01-01 00:00:00Z", "+024-01-01T00:00:00Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2024-1-01T00:00:00Z",
	} {
		agreeWithUnmarshalText(t, s)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		tm := time.Unix(rng.Int64N(7e9)-1e9, 0).UTC()
		if rng.IntN(2) == 0 {
			tm = tm.Add(time.Duration(rng.Int64N(1e9)))
		}
		s := string(appendTime(nil, tm))
		s = s[1 : len(s)-1] // unquote
		if got, ok := parseUTC([]byte(s)); !ok || got != tm {
			t.Fatalf("parseUTC(%q) = %v, %v; Encode wrote it from %v", s, got, ok, tm)
		}
		// and a one-byte change of it
		b := []byte(s)
		b[rng.IntN(len(b))] = "0123456789:-.TZz+ 9"[rng.IntN(19)]
		agreeWithUnmarshalText(t, string(b))
	}
}

// FuzzParseUTC: whatever the bytes, parseUTC declines or agrees with UnmarshalText.
func FuzzParseUTC(f *testing.F) {
	f.Add("2024-04-20T00:10:02.123456789Z")
	f.Add("2024-02-29T23:59:59Z")
	f.Fuzz(func(t *testing.T, s string) { agreeWithUnmarshalText(t, s) })
}
