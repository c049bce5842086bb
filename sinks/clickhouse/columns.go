package clickhouse

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// colBuf buffers the values of one column of a Writer, converted on Add to the Go type the
// column's ClickHouse type needs, so that a flush can hand whole typed slices to the driver
// (columnar, no per-row work) or print them as SQL literals for the embedded engine.
// It is not safe for concurrent use; the Writer's mutex guards it.
type colBuf interface {
	// add converts v and appends it, or returns why v does not fit the column.
	add(v any) error
	len() int
	// truncate drops values from index n on (to undo a partially added row).
	truncate(n int)
	// appendTo hands all buffered values to a driver batch column (server path).
	appendTo(bc driver.BatchColumn) error
	// literal appends value i as a ClickHouse SQL literal (embedded path).
	literal(dst []byte, i int) []byte
	// value returns value i as stored (row-wise driver path).
	value(i int) any
	// appendFrom appends all values of o, which has the same concrete type.
	appendFrom(o colBuf)
	// empty returns a new, empty buffer for the same column type.
	empty() colBuf
	// columnar reports whether appendTo can be used; when false the whole batch is
	// appended row by row.
	columnar() bool
}

// typedCol is a colBuf over a typed slice.
type typedCol[T any] struct {
	vals []T
	conv func(any) (T, error)
	lit  func([]byte, T) []byte
}

func (c *typedCol[T]) add(v any) error {
	x, err := c.conv(v)
	if err != nil {
		return err
	}
	c.vals = append(c.vals, x)
	return nil
}
func (c *typedCol[T]) len() int                             { return len(c.vals) }
func (c *typedCol[T]) truncate(n int)                       { clear(c.vals[n:]); c.vals = c.vals[:n] }
func (c *typedCol[T]) appendTo(bc driver.BatchColumn) error { return bc.Append(c.vals) }
func (c *typedCol[T]) literal(dst []byte, i int) []byte     { return c.lit(dst, c.vals[i]) }
func (c *typedCol[T]) value(i int) any                      { return c.vals[i] }
func (c *typedCol[T]) appendFrom(o colBuf)                  { c.vals = append(c.vals, o.(*typedCol[T]).vals...) }
func (c *typedCol[T]) empty() colBuf                        { return &typedCol[T]{conv: c.conv, lit: c.lit} }
func (c *typedCol[T]) columnar() bool                       { return true }

// anyCol keeps values as given, for column types without a typed buffer; they are appended
// row by row on the server and printed by their Go type for the embedded engine.
type anyCol struct {
	vals []any
}

func (c *anyCol) add(v any) error {
	if _, err := appendLiteral(nil, v); err != nil {
		return err
	}
	c.vals = append(c.vals, v)
	return nil
}
func (c *anyCol) len() int                          { return len(c.vals) }
func (c *anyCol) truncate(n int)                    { clear(c.vals[n:]); c.vals = c.vals[:n] }
func (c *anyCol) appendTo(driver.BatchColumn) error { return fmt.Errorf("column is not columnar") }
func (c *anyCol) literal(dst []byte, i int) []byte  { b, _ := appendLiteral(dst, c.vals[i]); return b }
func (c *anyCol) value(i int) any                   { return c.vals[i] }
func (c *anyCol) appendFrom(o colBuf)               { c.vals = append(c.vals, o.(*anyCol).vals...) }
func (c *anyCol) empty() colBuf                     { return &anyCol{} }
func (c *anyCol) columnar() bool                    { return false }

// newColBuf returns the buffer for a column of ClickHouse type typ.
func newColBuf(typ string) colBuf {
	switch typ {
	case "UInt8":
		return &typedCol[uint8]{conv: uintConv[uint8](math.MaxUint8), lit: uintLit[uint8]}
	case "UInt16":
		return &typedCol[uint16]{conv: uintConv[uint16](math.MaxUint16), lit: uintLit[uint16]}
	case "UInt32":
		return &typedCol[uint32]{conv: uintConv[uint32](math.MaxUint32), lit: uintLit[uint32]}
	case "UInt64":
		return &typedCol[uint64]{conv: uintConv[uint64](math.MaxUint64), lit: uintLit[uint64]}
	case "Int8":
		return &typedCol[int8]{conv: intConv[int8](math.MinInt8, math.MaxInt8), lit: intLit[int8]}
	case "Int16":
		return &typedCol[int16]{conv: intConv[int16](math.MinInt16, math.MaxInt16), lit: intLit[int16]}
	case "Int32":
		return &typedCol[int32]{conv: intConv[int32](math.MinInt32, math.MaxInt32), lit: intLit[int32]}
	case "Int64":
		return &typedCol[int64]{conv: intConv[int64](math.MinInt64, math.MaxInt64), lit: intLit[int64]}
	case "Float32":
		return &typedCol[float32]{conv: float32Conv, lit: float32Lit}
	case "Float64":
		return &typedCol[float64]{conv: float64Conv, lit: float64Lit}
	case "String":
		return &typedCol[string]{conv: stringConv, lit: appendQuoted}
	case "Array(String)":
		return &typedCol[[]string]{conv: stringsConv, lit: stringsLit}
	case "Date":
		return &typedCol[time.Time]{conv: dateConv, lit: dateLit}
	}
	if typ == "DateTime" || (strings.HasPrefix(typ, "DateTime(") && !strings.HasPrefix(typ, "DateTime64")) {
		// held as Unix seconds, 8 bytes a row against a time.Time's 24 (the estimates of a
		// replay carry about 900,000 of them); the driver takes int64 seconds for DateTime
		return &typedCol[int64]{conv: dateTimeConv, lit: intLit[int64]}
	}
	return &anyCol{}
}

type unsigned interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

type signed interface {
	~int8 | ~int16 | ~int32 | ~int64
}

// toUint64 converts any Go integer that is not negative.
func toUint64(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint64:
		return x, true
	case uint32:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint:
		return uint64(x), true
	case int:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int8:
		return uint64(x), x >= 0
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// toInt64 converts any Go integer that fits in int64.
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	}
	return 0, false
}

func uintConv[T unsigned](max uint64) func(any) (T, error) {
	return func(v any) (T, error) {
		if x, ok := v.(T); ok {
			return x, nil
		}
		u, ok := toUint64(v)
		if !ok || u > max {
			return 0, fmt.Errorf("%v (%T) is not an integer in [0, %d]", v, v, max)
		}
		return T(u), nil
	}
}

func intConv[T signed](min, max int64) func(any) (T, error) {
	return func(v any) (T, error) {
		if x, ok := v.(T); ok {
			return x, nil
		}
		i, ok := toInt64(v)
		if !ok || i < min || i > max {
			return 0, fmt.Errorf("%v (%T) is not an integer in [%d, %d]", v, v, min, max)
		}
		return T(i), nil
	}
}

func uintLit[T unsigned](dst []byte, v T) []byte { return strconv.AppendUint(dst, uint64(v), 10) }
func intLit[T signed](dst []byte, v T) []byte    { return strconv.AppendInt(dst, int64(v), 10) }

func float64Conv(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	}
	if i, ok := toInt64(v); ok {
		return float64(i), nil
	}
	if u, ok := toUint64(v); ok {
		return float64(u), nil
	}
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

func float32Conv(v any) (float32, error) {
	if x, ok := v.(float32); ok {
		return x, nil
	}
	f, err := float64Conv(v)
	return float32(f), err
}

func float64Lit(dst []byte, f float64) []byte { return appendFloat(dst, f, 64) }
func float32Lit(dst []byte, f float32) []byte { return appendFloat(dst, float64(f), 32) }

// appendFloat prints f so that ClickHouse parses back exactly the same value.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

func stringConv(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	}
	return "", fmt.Errorf("%v (%T) is not a string", v, v)
}

// stringsConv copies the slice: the caller may reuse its slice after Add returns.
func stringsConv(v any) ([]string, error) {
	x, ok := v.([]string)
	if !ok {
		return nil, fmt.Errorf("%v (%T) is not a []string", v, v)
	}
	if x == nil {
		return []string{}, nil
	}
	return append([]string(nil), x...), nil
}

func stringsLit(dst []byte, v []string) []byte {
	dst = append(dst, '[')
	for i, s := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendQuoted(dst, s)
	}
	return append(dst, ']')
}

// DateTime holds whole seconds from 1970-01-01 to 2106-02-07 (UInt32). It takes a
// time.Time, or an integer of Unix seconds (0 is the conventional "unknown" of columns that
// cannot be Nullable on 18.16), and holds the Unix seconds.
func dateTimeConv(v any) (int64, error) {
	t, ok := v.(time.Time)
	if !ok {
		secs, isInt := toInt64(v)
		if !isInt {
			return 0, fmt.Errorf("%v (%T) is not a time.Time or Unix seconds", v, v)
		}
		if secs < 0 || secs > math.MaxUint32 {
			return 0, fmt.Errorf("%d Unix seconds is outside the DateTime range 1970-01-01 to 2106-02-07", secs)
		}
		return secs, nil
	}
	if s := t.Unix(); s < 0 || s > math.MaxUint32 {
		return 0, fmt.Errorf("time %s is outside the DateTime range 1970-01-01 to 2106-02-07", t.UTC().Format(time.RFC3339))
	}
	return t.Unix(), nil
}

// Date holds whole days from 1970-01-01 (UInt16); the day is taken in UTC.
func dateConv(v any) (time.Time, error) {
	t, ok := v.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("%v (%T) is not a time.Time", v, v)
	}
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if days := d.Unix() / 86400; days < 0 || days > math.MaxUint16 {
		return time.Time{}, fmt.Errorf("date %s is outside the Date range 1970-01-01 to 2149-06-06", d.Format(time.DateOnly))
	}
	return d, nil
}

func dateLit(dst []byte, t time.Time) []byte {
	dst = append(dst, '\'')
	dst = t.UTC().AppendFormat(dst, time.DateOnly)
	return append(dst, '\'')
}
