package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Helpers the source parsers share (ingest/bitcoind, ingest/esplora, …).

// IsHex reports whether s is made of hexadecimal digits, in either case.
func IsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// IsHash reports whether s is a 64-digit hex block or transaction hash, in either case.
func IsHash(s string) bool { return len(s) == 64 && IsHex(s) }

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// LooksLikeAddress accepts what a Base58Check or Bech32/Bech32m Bitcoin address can look like
// (alphanumeric, 14 to 90 characters). It does not verify checksums.
func LooksLikeAddress(s string) bool {
	if len(s) < 14 || len(s) > 90 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// IsJSONNull reports whether raw is the JSON literal null (surrounding space allowed).
func IsJSONNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

// JSONFault describes a JSON decoding failure of what, saying where a truncated body ends.
func JSONFault(what string, body []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Error() == "unexpected end of JSON input" {
		return fmt.Errorf("%s is truncated: unexpected end of JSON input after %d bytes", what, len(body))
	}
	if errors.As(err, &se) {
		return fmt.Errorf("%s is malformed JSON at byte %d: %w", what, se.Offset, err)
	}
	return fmt.Errorf("decode %s: %w", what, err)
}

// Clip shortens s to 80 bytes for an error message.
func Clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
