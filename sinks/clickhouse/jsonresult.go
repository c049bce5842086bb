package clickhouse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// decodeJSONCompact turns ClickHouse's JSONCompact output (what the embedded engine returns
// for queries) into a Result with the Go types documented on Result. loc is the session
// time zone, used for DateTime columns that do not name their own.
func decodeJSONCompact(out []byte, loc *time.Location) (*Result, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return &Result{}, nil
	}
	var doc struct {
		Meta []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"meta"`
		Data [][]any `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode JSONCompact result: %w", err)
	}
	res := &Result{Columns: make([]Column, len(doc.Meta))}
	for i, m := range doc.Meta {
		res.Columns[i] = Column{Name: m.Name, Type: m.Type}
	}
	res.Rows = make([][]any, len(doc.Data))
	for r, raw := range doc.Data {
		if len(raw) != len(doc.Meta) {
			return nil, fmt.Errorf("decode JSONCompact result: row %d has %d values for %d columns", r, len(raw), len(doc.Meta))
		}
		row := make([]any, len(raw))
		for i, v := range raw {
			x, err := convertJSON(doc.Meta[i].Type, v, loc)
			if err != nil {
				return nil, fmt.Errorf("decode JSONCompact result: row %d column %s (%s): %w", r, doc.Meta[i].Name, doc.Meta[i].Type, err)
			}
			row[i] = x
		}
		res.Rows[r] = row
	}
	return res, nil
}

// unwrapType returns the argument of a type constructor: unwrapType("Array(String)",
// "Array") is "String", true.
func unwrapType(typ, ctor string) (string, bool) {
	if strings.HasPrefix(typ, ctor+"(") && strings.HasSuffix(typ, ")") {
		return typ[len(ctor)+1 : len(typ)-1], true
	}
	return "", false
}

// typeLocation returns the time zone named in DateTime('Zone') or DateTime64(3, 'Zone').
func typeLocation(typ string, def *time.Location) *time.Location {
	i := strings.IndexByte(typ, '\'')
	j := strings.LastIndexByte(typ, '\'')
	if i < 0 || j <= i {
		return def
	}
	if loc, err := time.LoadLocation(typ[i+1 : j]); err == nil {
		return loc
	}
	return def
}

// goType is the Go type a value of ClickHouse type typ converts to, or nil for "as decoded".
func goType(typ string) reflect.Type {
	if inner, ok := unwrapType(typ, "LowCardinality"); ok {
		return goType(inner)
	}
	if inner, ok := unwrapType(typ, "Nullable"); ok {
		if t := goType(inner); t != nil {
			return reflect.PointerTo(t)
		}
		return nil
	}
	if inner, ok := unwrapType(typ, "Array"); ok {
		if t := goType(inner); t != nil {
			return reflect.SliceOf(t)
		}
		return reflect.TypeFor[[]any]()
	}
	switch typ {
	case "UInt8":
		return reflect.TypeFor[uint8]()
	case "UInt16":
		return reflect.TypeFor[uint16]()
	case "UInt32":
		return reflect.TypeFor[uint32]()
	case "UInt64":
		return reflect.TypeFor[uint64]()
	case "Int8":
		return reflect.TypeFor[int8]()
	case "Int16":
		return reflect.TypeFor[int16]()
	case "Int32":
		return reflect.TypeFor[int32]()
	case "Int64":
		return reflect.TypeFor[int64]()
	case "Float32":
		return reflect.TypeFor[float32]()
	case "Float64":
		return reflect.TypeFor[float64]()
	case "String":
		return reflect.TypeFor[string]()
	case "Bool":
		return reflect.TypeFor[bool]()
	case "Date", "Date32":
		return reflect.TypeFor[time.Time]()
	}
	if strings.HasPrefix(typ, "FixedString(") {
		return reflect.TypeFor[string]()
	}
	if typ == "DateTime" || strings.HasPrefix(typ, "DateTime(") || strings.HasPrefix(typ, "DateTime64(") {
		return reflect.TypeFor[time.Time]()
	}
	return nil
}

// convertJSON converts one decoded JSON value (json.Number, string, bool, nil, []any, …)
// of ClickHouse type typ.
func convertJSON(typ string, v any, loc *time.Location) (any, error) {
	if inner, ok := unwrapType(typ, "LowCardinality"); ok {
		return convertJSON(inner, v, loc)
	}
	if inner, ok := unwrapType(typ, "Nullable"); ok {
		if v == nil {
			return nil, nil
		}
		return convertJSON(inner, v, loc)
	}
	if inner, ok := unwrapType(typ, "Array"); ok {
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%v is not an array", v)
		}
		et := goType(inner)
		if et == nil {
			return arr, nil
		}
		out := reflect.MakeSlice(reflect.SliceOf(et), len(arr), len(arr))
		for i, e := range arr {
			x, err := convertJSON(inner, e, loc)
			if err != nil {
				return nil, err
			}
			if x == nil {
				continue // a NULL element of Array(Nullable(T)): the nil pointer
			}
			xv := reflect.ValueOf(x)
			if et.Kind() == reflect.Pointer {
				p := reflect.New(et.Elem())
				p.Elem().Set(xv)
				xv = p
			}
			out.Index(i).Set(xv)
		}
		return out.Interface(), nil
	}
	text := func() (string, error) {
		switch x := v.(type) {
		case json.Number:
			return x.String(), nil
		case string:
			return x, nil
		}
		return "", fmt.Errorf("%v (%T) is not a number", v, v)
	}
	parseUint := func(bits int) (uint64, error) {
		s, err := text()
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(s, 10, bits)
	}
	parseInt := func(bits int) (int64, error) {
		s, err := text()
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(s, 10, bits)
	}
	switch typ {
	case "UInt8":
		u, err := parseUint(8)
		return uint8(u), err
	case "UInt16":
		u, err := parseUint(16)
		return uint16(u), err
	case "UInt32":
		u, err := parseUint(32)
		return uint32(u), err
	case "UInt64":
		return parseUint(64)
	case "Int8":
		i, err := parseInt(8)
		return int8(i), err
	case "Int16":
		i, err := parseInt(16)
		return int16(i), err
	case "Int32":
		i, err := parseInt(32)
		return int32(i), err
	case "Int64":
		return parseInt(64)
	case "Float32", "Float64":
		bits := 64
		if typ == "Float32" {
			bits = 32
		}
		if v == nil {
			// NaN and infinities print as null unless output_format_json_quote_denormals.
			return nil, fmt.Errorf("null float (NaN or infinity without output_format_json_quote_denormals)")
		}
		s, err := text()
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(s, bits)
		if bits == 32 {
			return float32(f), err
		}
		return f, err
	case "Bool":
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%v (%T) is not a bool", v, v)
		}
		return b, nil
	case "Date", "Date32":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v (%T) is not a date", v, v)
		}
		return time.ParseInLocation(time.DateOnly, s, time.UTC)
	}
	if typ == "String" || strings.HasPrefix(typ, "FixedString(") {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v (%T) is not a string", v, v)
		}
		return s, nil
	}
	if typ == "DateTime" || strings.HasPrefix(typ, "DateTime(") || strings.HasPrefix(typ, "DateTime64(") {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v (%T) is not a date-time", v, v)
		}
		return time.ParseInLocation("2006-01-02 15:04:05.999999999", s, typeLocation(typ, loc))
	}
	if n, ok := v.(json.Number); ok {
		return n.String(), nil
	}
	return v, nil
}
