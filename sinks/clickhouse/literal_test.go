package clickhouse

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestQuoteStringEscapesEveryByteThatMatters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `''`},
		{"plain", `'plain'`},
		{"it's", `'it\'s'`},
		{`a\b`, `'a\\b'`},
		{"l1\nl2\r\t", `'l1\nl2\r\t'`},
		{"nul\x00", `'nul\0'`},
		{"\x01\x7f", `'\x01\x7f'`},
		{"Ελληνικά 🙂", `'Ελληνικά 🙂'`},
		{"\xff\xfe invalid utf-8", "'\xff\xfe invalid utf-8'"},
	} {
		if got := QuoteString(tc.in); got != tc.want {
			t.Errorf("QuoteString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := QuoteIdentifier("we`ird"); got != "`we\\`ird`" {
		t.Errorf("QuoteIdentifier = %s", got)
	}
}

func TestLiteralsOfTypedColumns(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		in   any
		want string
	}{
		{"UInt64", uint64(math.MaxUint64), "18446744073709551615"},
		{"UInt8", 200, "200"},
		{"Int64", int64(math.MinInt64), "-9223372036854775808"},
		{"Float64", 0.1, "0.1"},
		{"Float64", math.Inf(-1), "-inf"},
		{"Float64", math.NaN(), "nan"},
		{"Float32", float32(0.1), "0.1"},
		{"DateTime('UTC')", time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), "1704161045"},
		{"DateTime", int64(0), "0"},
		{"DateTime('UTC')", uint32(1704161045), "1704161045"},
		{"Date", time.Date(2024, 1, 2, 23, 0, 0, 0, time.UTC), "'2024-01-02'"},
		{"Array(String)", []string{"a'", ""}, `['a\'','']`},
		{"Array(UInt32)", []uint32{1, 2}, "[1,2]"},
		{"Nullable(String)", (*string)(nil), "NULL"},
	} {
		c := newColBuf(tc.typ)
		if err := c.add(tc.in); err != nil {
			t.Errorf("%s: add(%v) = %v", tc.typ, tc.in, err)
			continue
		}
		if got := string(c.literal(nil, 0)); got != tc.want {
			t.Errorf("%s literal of %v = %s, want %s", tc.typ, tc.in, got, tc.want)
		}
	}
}

func TestColumnConversionsCheckRanges(t *testing.T) {
	for _, tc := range []struct {
		typ string
		in  any
	}{
		{"UInt8", 256}, {"UInt32", int64(-1)}, {"Int8", 128}, {"Int64", uint64(math.MaxUint64)},
		{"Float64", "1.5"}, {"DateTime", int64(-1)}, {"DateTime", "2024-01-01"}, {"String", 1}, {"Array(String)", []int{1}}, {"Date", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"Map(String, String)", struct{}{}},
	} {
		if err := newColBuf(tc.typ).add(tc.in); err == nil {
			t.Errorf("%s accepted %#v", tc.typ, tc.in)
		}
	}
}

func TestDecodeJSONCompactGivesTheDocumentedTypes(t *testing.T) {
	out := []byte(`{"meta":[{"name":"u","type":"UInt64"},{"name":"q","type":"Int64"},{"name":"f","type":"Float64"},
		{"name":"n","type":"Float64"},{"name":"a","type":"Array(Nullable(UInt8))"},{"name":"t","type":"DateTime('Asia/Tokyo')"},
		{"name":"l","type":"LowCardinality(String)"},{"name":"z","type":"Nullable(Int32)"},{"name":"m","type":"Map(String, UInt8)"}],
		"data":[[18446744073709551615,"-5",0.1,"nan",[1,null],"2024-01-02 09:00:00","x",null,{"k":1}]],"rows":1}`)
	res, err := decodeJSONCompact(out, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	one := uint8(1)
	got := res.Rows[0]
	want := []any{uint64(math.MaxUint64), int64(-5), 0.1, nil, []*uint8{&one, nil}, nil, "x", nil, map[string]any{"k": nil}}
	for i, w := range want {
		switch i {
		case 3:
			if f, ok := got[i].(float64); !ok || !math.IsNaN(f) {
				t.Errorf("n = %v, want NaN", got[i])
			}
		case 5:
			if tm, ok := got[i].(time.Time); !ok || !tm.Equal(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("t = %v, want 2024-01-02 00:00 UTC", got[i])
			}
		case 8:
			if _, ok := got[i].(map[string]any); !ok {
				t.Errorf("m = %T, want it as decoded", got[i])
			}
		default:
			if !reflect.DeepEqual(got[i], w) {
				t.Errorf("%s = %#v, want %#v", res.Columns[i].Name, got[i], w)
			}
		}
	}
}
