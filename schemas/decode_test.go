package schemas

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readGolden(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceOnce replaces old, which must occur in s exactly once.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q occurs %d times in the golden file", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, new, 1)
}

// TestDecodeErrors proves that every way a message can be malformed gives a
// *DecodeError that names the schema and the field at fault, in one line.
func TestDecodeErrors(t *testing.T) {
	block := readGolden(t, "block.json")
	estimate := readGolden(t, "estimate.json")
	poolStats := readGolden(t, "pool_stats.json")
	deadLetter := readGolden(t, "dead_letter.json")
	tests := []struct {
		name   string
		input  string
		schema string
		field  string
		reason string // a substring of Reason
	}{
		{"a string where a number belongs names the field", replaceOnce(t, block, `"height":840000`, `"height":"840000"`),
			SchemaBlock, "height", "must be a number, found a string"},
		{"a fraction in an integer field is rejected", replaceOnce(t, block, `"height":840000`, `"height":840000.5`),
			SchemaBlock, "height", "must be an integer"},
		{"an exponent in an integer field is rejected", replaceOnce(t, block, `"height":840000`, `"height":84e4`),
			SchemaBlock, "height", "must be an integer"},
		{"an integer beyond int64 is rejected", replaceOnce(t, block, `"height":840000`, `"height":9223372036854775808`),
			SchemaBlock, "height", "out of range"},
		{"a float beyond float64 is rejected", replaceOnce(t, block, `"difficulty":86388558925171.02`, `"difficulty":1e400`),
			SchemaBlock, "difficulty", "out of range"},
		{"a malformed number is rejected", replaceOnce(t, block, `"height":840000`, `"height":-`),
			SchemaBlock, "height", "expected a digit"},
		{"a number where a string belongs names the field", replaceOnce(t, block, `"bits":"17034219"`, `"bits":17034219`),
			SchemaBlock, "bits", "must be a string, found a number"},
		{"a time without the T is rejected", replaceOnce(t, block, `"time":"2024-04-20T00:09:27Z"`, `"time":"2024-04-20 00:09:27Z"`),
			SchemaBlock, "time", "must be an RFC 3339 time"},
		{"a time with another offset is rejected", replaceOnce(t, block, `"time":"2024-04-20T00:09:27Z"`, `"time":"2024-04-20T02:09:27+02:00"`),
			SchemaBlock, "time", "must be in UTC"},
		{"a Unix timestamp where a time belongs is rejected", replaceOnce(t, block, `"time":"2024-04-20T00:09:27Z"`, `"time":1713571767`),
			SchemaBlock, "time", "must be an RFC 3339 time string, found a number"},
		{"null where a value is required is rejected", replaceOnce(t, block, `"tx_count":3050`, `"tx_count":null`),
			SchemaBlock, "tx_count", "found null"},
		{"a list element of the wrong type is named by its index", replaceOnce(t, block, `"coinbase_addresses":["bc1q`, `"coinbase_addresses":[7,"bc1q`),
			SchemaBlock, "coinbase_addresses[0]", "must be a string, found a number"},
		{"an object where a list belongs is rejected", replaceOnce(t, block, `"coinbase_addresses":[`, `"coinbase_addresses":{"a":[`),
			SchemaBlock, "coinbase_addresses", "must be an array of strings, found an object"},
		{"an unknown field is rejected by name", replaceOnce(t, block, `,"source"`, `,"extra":{"nested":[1,2]},"source"`),
			SchemaBlock, "extra", "unknown field"},
		{"an unknown field name with a line break is quoted, keeping the error on one line",
			replaceOnce(t, block, `,"source"`, `,"a\nb":1,"source"`), SchemaBlock, `"a\nb"`, "unknown field"},
		{"an unknown schema name with a line break is quoted",
			`{"schema":"x\ny"}`, `"x\ny"`, "schema", "is not a known schema"},
		{"a field name in the wrong case is an unknown field", replaceOnce(t, block, `"height"`, `"Height"`),
			SchemaBlock, "Height", "unknown field"},
		{"a field written twice is rejected", replaceOnce(t, block, `,"source"`, `,"height":1,"source"`),
			SchemaBlock, "height", "appears twice"},
		{"a second schema member is rejected", replaceOnce(t, block, `,"source"`, `,"schema":"hashatlas.estimate.v1","source"`),
			SchemaBlock, "schema", "appears twice"},
		{"a missing field is named", replaceOnce(t, block, `"tx_count":3050,`, ``),
			SchemaBlock, "tx_count", "is missing"},
		{"an unknown schema is named", replaceOnce(t, block, `"schema":"hashatlas.block.v1"`, `"schema":"hashatlas.block.v2"`),
			"hashatlas.block.v2", "schema", "is not a known schema"},
		{"a message without schema is rejected", replaceOnce(t, block, `"schema":"hashatlas.block.v1",`, ``),
			"", "schema", "missing"},
		{"a schema that is not a string is rejected", replaceOnce(t, block, `"schema":"hashatlas.block.v1"`, `"schema":1`),
			"", "schema", "must be a string, found a number"},
		{"a message cut inside a value names that field", block[:strings.Index(block, `"hash":"`)+20],
			SchemaBlock, "hash", "truncated JSON"},
		{"a message cut between members is truncated JSON", block[:strings.Index(block, `,"hash"`)],
			SchemaBlock, "", "truncated JSON"},
		{"a message cut inside the schema name is truncated JSON", block[:20],
			"", "schema", "truncated JSON"},
		{"empty input is truncated JSON", "", "", "", "truncated JSON"},
		{"an array is not a message", `[{"schema":"hashatlas.block.v1"}]`, "", "", "must be a JSON object, found an array"},
		{"data after the message is rejected", block + ` {}`, SchemaBlock, "", "data after the end of the message"},
		{"a missing comma is reported with its offset", replaceOnce(t, block, `,"hash"`, ` "hash"`),
			SchemaBlock, "", "expected ',' or '}'"},
		{"invalid UTF-8 in a string is rejected", replaceOnce(t, block, `"source":"bitcoind"`, "\"source\":\"bit\xffcoind\""),
			SchemaBlock, "source", "not valid UTF-8"},
		{"a lone surrogate escape is rejected", replaceOnce(t, block, `"source":"bitcoind"`, `"source":"\ud800"`),
			SchemaBlock, "source", "unpaired surrogate"},
		{"a control character in a string is rejected", replaceOnce(t, block, `"source":"bitcoind"`, "\"source\":\"bit\ncoind\""),
			SchemaBlock, "source", "control character"},
		{"a value breaking a rule is a decode error naming the field", replaceOnce(t, block, `"height":840000`, `"height":-1`),
			SchemaBlock, "height", "must be between 0 and"},
		{"a boolean given as a string is rejected", replaceOnce(t, estimate, `"final":true`, `"final":"yes"`),
			SchemaEstimate, "final", "must be true or false, found a string"},
		{"an optional field of the wrong type is rejected", replaceOnce(t, poolStats, `"blocks":39`, `"blocks":"39"`),
			SchemaPoolStats, "blocks", "must be a number, found a string"},
		{"bytes that are not base64 are rejected", replaceOnce(t, deadLetter, `"key":"ODQwMDAw"`, `"key":"!!!!"`),
			SchemaDeadLetter, "key", "base64"},
		{"a partition beyond int32 is rejected", replaceOnce(t, deadLetter, `"partition":3`, `"partition":2147483648`),
			SchemaDeadLetter, "partition", "out of range for int32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode([]byte(tt.input))
			if err == nil {
				t.Fatalf("Decode succeeded: %#v", m)
			}
			if m != nil {
				t.Errorf("Decode returned a message with its error: %#v", m)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, want *DecodeError", err, err)
			}
			if de.Schema != tt.schema || de.Field != tt.field || !strings.Contains(de.Reason, tt.reason) {
				t.Errorf("DecodeError{Schema: %q, Field: %q, Reason: %q}, want schema %q, field %q, reason containing %q",
					de.Schema, de.Field, de.Reason, tt.schema, tt.field, tt.reason)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("Error() is not one line: %q", msg)
			}
			if tt.field != "" && !strings.Contains(msg, "field "+tt.field+":") {
				t.Errorf("Error() %q does not name field %s", msg, tt.field)
			}
		})
	}
}

// TestDecodeValidationErrorUnwraps proves a validation failure found by
// Decode carries every *FieldError, and its text counts the others.
func TestDecodeValidationErrorUnwraps(t *testing.T) {
	block := readGolden(t, "block.json")
	in := replaceOnce(t, replaceOnce(t, block, `"height":840000`, `"height":-1`), `"source":"bitcoind"`, `"source":""`)
	_, err := Decode([]byte(in))
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DecodeError", err)
	}
	if got := fieldsOf(t, de.Err); !reflect.DeepEqual(got, []string{"height", "source"}) {
		t.Errorf("wrapped field errors name %q, want height and source", got)
	}
	want := "decode hashatlas.block.v1: field height: must be between 0 and 4294967295, found -1 (and 1 more)"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

// TestDecodeAcceptsEquivalentJSON proves Decode reads any JSON spelling of a
// message, not only the encoder's: other member orders, white space, escapes
// and exponent notation.
func TestDecodeAcceptsEquivalentJSON(t *testing.T) {
	in := `
	{
		"source" : "eia", "unit":"MWh",
		"value": 4.12345e4, "metric": "dem\u0061nd",
		"interval_seconds": 3600, "time": "2024-04-20T05:00:00.000Z",
		"country": "US", "region": "ERCO",
		"schema": "hashatlas.grid.v1"
	}
	`
	got, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := goldenGrid(); !reflect.DeepEqual(got, want) {
		t.Errorf("Decode =\n%#v\nwant\n%#v", got, want)
	}
}

// TestDecodeAs proves DecodeAs returns the concrete type, as a pointer or a
// value, and refuses a message of another schema with a *DecodeError.
func TestDecodeAs(t *testing.T) {
	data := []byte(readGolden(t, "block.json"))
	p, err := DecodeAs[*Block](data)
	if err != nil || p.Height != 840000 {
		t.Fatalf("DecodeAs[*Block] = %v, %v", p, err)
	}
	v, err := DecodeAs[Block](data)
	if err != nil || v.Height != 840000 {
		t.Fatalf("DecodeAs[Block] = %v, %v", v, err)
	}
	_, err = DecodeAs[*Estimate](data)
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "schema" || de.Schema != SchemaBlock {
		t.Errorf("DecodeAs[*Estimate] on a block: %v, want a DecodeError on field schema", err)
	}
}

// foreign implements Message but is not one of this package's types.
type foreign struct{}

func (foreign) SchemaName() string { return "foreign.v1" }
func (foreign) Topic() string      { return "foreign" }
func (foreign) Key() string        { return "" }
func (foreign) Validate() error    { return nil }

// TestEncodeRejectsNonMessages proves Encode fails cleanly, without panicking,
// on nil, a typed nil pointer and foreign Message implementations.
func TestEncodeRejectsNonMessages(t *testing.T) {
	for _, m := range []Message{nil, (*Block)(nil), (*DeadLetter)(nil), foreign{}} {
		if b, err := Encode(m); err == nil {
			t.Errorf("Encode(%#v) = %s, want an error", m, b)
		}
	}
}

// TestEncodeEscapesLikeEncodingJSON proves free text with quotes, control
// characters, HTML and invalid UTF-8 is written as encoding/json writes it,
// and decodes back (invalid UTF-8 as U+FFFD).
func TestEncodeEscapesLikeEncodingJSON(t *testing.T) {
	d := goldenDeadLetter()
	d.Reason = "quote \" backslash \\ tab \t nl \n bs \b ff \f nul \x00 html <a href='x'>&</a> ls \u2028 ps \u2029 bad \xff end é 😀"
	got, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	want := mustMarshal(t, d)
	if string(got) != string(want) {
		t.Errorf("Encode:\n%s\njson.Marshal:\n%s", got, want)
	}
	back, err := DecodeAs[*DeadLetter](got)
	if err != nil {
		t.Fatal(err)
	}
	if wantReason := strings.ToValidUTF8(d.Reason, "\uFFFD"); back.Reason != wantReason {
		t.Errorf("Reason round trip = %q, want %q", back.Reason, wantReason)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
