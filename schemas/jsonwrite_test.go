package schemas

import (
	"strings"
	"testing"
)

// TestVerbatimFieldsNeedNoEscaping proves that every byte the validation rules behind
// appendVerbatim admit is written by appendString unchanged, so that skipping the escape scan
// for those fields cannot change what Encode writes: the byte classes (hex, decimal, letters and
// digits, pool slugs, ISO country codes) byte by byte, and the enums value by value.
func TestVerbatimFieldsNeedNoEscaping(t *testing.T) {
	classes := map[string]func(c byte) bool{
		"lower hex (hashes, bits, scripts, digests)": func(c byte) bool { return isLowerHex(string([]byte{c})) },
		"decimal (work)":                 func(c byte) bool { _, ok := parseU320(string([]byte{'1', c})); return ok },
		"letters and digits (addresses)": func(c byte) bool { return checkAddress(string([]byte{c})) == "" },
		"pool slug":                      func(c byte) bool { return checkSlug(string([]byte{c})) == "" },
		"country code":                   func(c byte) bool { return checkCountry(string([]byte{c, c})) == "" },
	}
	for name, admits := range classes {
		n := 0
		for c := range 256 {
			if !admits(byte(c)) {
				continue
			}
			n++
			if s := string([]byte{byte(c)}); string(appendString(nil, s)) != `"`+s+`"` {
				t.Errorf("%s admits %q, which appendString escapes as %s", name, s, appendString(nil, s))
			}
		}
		if n == 0 {
			t.Errorf("%s admits no byte at all: the probe is wrong", name)
		}
	}
	for name, values := range map[string][]string{
		"attribution_method": attributionMethods, "estimate metric": estimateMetrics, "window": windows,
		"estimate unit": estimateUnits, "grid metric": gridMetrics, "grid unit": gridUnits,
	} {
		for _, v := range values {
			if got := string(appendString(nil, v)); got != `"`+v+`"` {
				t.Errorf("%s %q is escaped by appendString as %s", name, v, got)
			}
		}
	}
	// Every estimate rule's unit is one of estimateUnits (checked above) or a constant of its own.
	for _, m := range estimateMetrics {
		if rule, ok := estimateRule(m); ok && strings.ContainsAny(rule.unit, "\"\\<>&") {
			t.Errorf("metric %s has unit %q that needs escaping", m, rule.unit)
		}
	}
}

// TestMemberNamesNeedNoEscaping proves what the decoder's fast key match relies on: no member
// name of any message type contains a byte that JSON would escape, so a name's raw bytes
// followed by a quote are the whole key.
func TestMemberNamesNeedNoEscaping(t *testing.T) {
	for _, g := range goldens() {
		c, ok := g.msg.(codec)
		if !ok {
			t.Fatalf("%s: %T is not a codec", g.file, g.msg)
		}
		for _, name := range c.fieldSet().names {
			if name == "" || string(appendString(nil, name)) != `"`+name+`"` {
				t.Errorf("%s: member name %q needs escaping", g.file, name)
			}
		}
	}
}

// TestAppendEncodeOfABlockOrEstimateValueAllocatesNothing: a publisher hands blocks and
// estimates over by value, hundreds of thousands in a replay; encoding one into a buffer with
// room allocates nothing (a copy of the value put on the heap was one allocation each), and
// gives the bytes the pointer gives.
func TestAppendEncodeOfABlockOrEstimateValueAllocatesNothing(t *testing.T) {
	for _, m := range []Message{*goldenBlock(), *goldenEstimate()} {
		want, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 4096)
		if allocs := testing.AllocsPerRun(100, func() { buf, _ = AppendEncode(buf[:0], m) }); allocs != 0 {
			t.Errorf("%s: %v allocations an encode, want 0", m.SchemaName(), allocs)
		}
		if string(buf) != string(want) {
			t.Errorf("%s: value encodes as %s, want %s", m.SchemaName(), buf, want)
		}
	}
}
