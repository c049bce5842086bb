package schemas

import "time"

// parseUTC parses the form Encode writes times in — "2006-01-02T15:04:05Z", optionally with a
// fraction of 1 to 9 digits before the Z — without the general RFC 3339 parser, which was a
// tenth of the cost of decoding a block. ok is false for anything else (offsets, lower-case
// letters, out-of-range fields), which the caller hands to time.Time.UnmarshalText; for what
// it accepts it returns exactly what UnmarshalText does (TestParseUTCAgreesWithUnmarshalText).
func parseUTC(b []byte) (t time.Time, ok bool) {
	n := len(b)
	if n < 20 || b[n-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	switch {
	case n == 20:
	case b[19] == '.' && n >= 22 && n <= 30:
		frac, ok := digits(b[20 : n-1])
		if !ok {
			return time.Time{}, false
		}
		nsec = frac
		for range 9 - (n - 21) {
			nsec *= 10
		}
	default:
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits returns the decimal value of b, which must be all digits.
func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// daysIn is the number of days of month in year (proleptic Gregorian, as package time).
func daysIn(month time.Month, year int) int {
	if month == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + int((month+month/8)%2)
}
