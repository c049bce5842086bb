package clickhouse

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a single-quoted ClickHouse string literal. The literal denotes
// exactly the bytes of s (valid UTF-8 or not): backslash and quote are escaped, and control
// bytes (including NUL, which C strings cannot carry) are written as escapes.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '\'')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '\\' && c != '\'' && c != 0x7f {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '\\':
			dst = append(dst, `\\`...)
		case '\'':
			dst = append(dst, `\'`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		case 0:
			dst = append(dst, `\0`...)
		default:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '\'')
}

// QuoteString returns s as a ClickHouse string literal, safe to paste into SQL text for
// both the server and the embedded engine: 'it\'s'.
func QuoteString(s string) string { return string(appendQuoted(nil, s)) }

// QuoteIdentifier returns name as a back-quoted identifier: `window`. Use it for names that
// are keywords or come from outside.
func QuoteIdentifier(name string) string {
	var b strings.Builder
	b.WriteByte('`')
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '`' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	b.WriteByte('`')
	return b.String()
}

// appendLiteral prints a Go value as a ClickHouse literal, for columns without a typed
// buffer: nil and nil pointers are NULL, times are Unix seconds (with a fraction when they
// have one), slices are arrays and maps are maps.
func appendLiteral(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "NULL"...), nil
	case string:
		return appendQuoted(dst, x), nil
	case []byte:
		return appendQuoted(dst, string(x)), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case float64:
		return appendFloat(dst, x, 64), nil
	case float32:
		return appendFloat(dst, float64(x), 32), nil
	case time.Time:
		dst = strconv.AppendInt(dst, x.Unix(), 10)
		if ns := x.Nanosecond(); ns != 0 {
			dst = append(dst, '.')
			dst = append(dst, fmt.Sprintf("%09d", ns)...)
		}
		return dst, nil
	}
	if u, ok := toUint64(v); ok {
		return strconv.AppendUint(dst, u, 10), nil
	}
	if i, ok := toInt64(v); ok {
		return strconv.AppendInt(dst, i, 10), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return append(dst, "NULL"...), nil
		}
		return appendLiteral(dst, rv.Elem().Interface())
	case reflect.Slice, reflect.Array:
		dst = append(dst, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendLiteral(dst, rv.Index(i).Interface()); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case reflect.Map:
		dst = append(dst, '{')
		for i, k := range rv.MapKeys() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendLiteral(dst, k.Interface()); err != nil {
				return dst, err
			}
			dst = append(dst, ':')
			if dst, err = appendLiteral(dst, rv.MapIndex(k).Interface()); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case reflect.String:
		return appendQuoted(dst, rv.String()), nil
	}
	return dst, fmt.Errorf("cannot write a %T as a ClickHouse value", v)
}
