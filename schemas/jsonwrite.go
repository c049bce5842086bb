package schemas

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The append helpers below write JSON values the way encoding/json does
// (same string escaping, including its HTML-safe escapes, same float
// formatting, RFC 3339 times with nanoseconds when present, standard base64),
// so that the output of Encode and json.Marshal on the same value agree
// (the tests check it).

const hexDigits = "0123456789abcdef"

// htmlSafe marks the bytes encoding/json writes as they are: printable
// ASCII other than '"', '\\', '<', '>' and '&'.
var htmlSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 is replaced with
// U+FFFD, as encoding/json does; Decode rejects invalid UTF-8, so such values
// do not round-trip (only free-text fields can carry them).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if n := htmlSafeRun(s, i); n > 0 {
			i += n
			continue
		}
		c := s[i]
		if htmlSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat appends f as encoding/json formats a float64. Callers have
// validated that f is finite.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendTime appends t as a quoted RFC 3339 time in UTC, with fractional
// seconds only when they are not zero.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendBytes appends v as standard base64 with padding, or null for nil.
func appendBytes(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// appendVerbatim appends s in quotes without looking for bytes to escape. It is only for fields
// whose rule in Validate admits nothing but bytes that need no escaping — hex and decimal
// digits, ASCII letters and digits, pool slugs, and the constants of an enum — because
// appendJSON runs only on messages that passed Validate (Encode). Skipping the scan saves about
// a fifth of the cost of encoding a block (TestVerbatimFieldsNeedNoEscaping keeps the rules and
// this shortcut in step).
func appendVerbatim(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendVerbatims appends a list of strings with appendVerbatim; nil is written as [].
func appendVerbatims(b []byte, v []string) []byte {
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendVerbatim(b, s)
	}
	return append(b, ']')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendKeyTime appends t as it appears in keys and JSON: RFC 3339 in UTC.
func appendKeyTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, time.RFC3339Nano)
}

// grow makes room for n more bytes in one allocation, so that appending a
// message of about that size does not reallocate along the way. A buffer that
// already holds messages (AppendEncode) at least doubles, as append would.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(len(b)+n, 2*cap(b)))
	copy(nb, b)
	return nb
}
