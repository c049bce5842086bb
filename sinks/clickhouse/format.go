package clickhouse

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// Output formats of WriteResult.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// WriteResult writes a query result as an aligned text table, CSV with a header row, or JSON
// (an array of objects keyed by column name). Times are written in RFC 3339 UTC, floats in
// the shortest form that reads back exactly (in tables: 6 significant digits).
func WriteResult(w io.Writer, r *Result, format string) error {
	switch format {
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(r.Names(), "\t")+"\t")
		for _, row := range r.Rows {
			cells := make([]string, len(row))
			for i, v := range row {
				cells[i] = formatValue(v, true)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
		return tw.Flush()
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(r.Names()); err != nil {
			return err
		}
		for _, row := range r.Rows {
			cells := make([]string, len(row))
			for i, v := range row {
				cells[i] = formatValue(v, false)
			}
			if err := cw.Write(cells); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case FormatJSON:
		out := make([]map[string]any, 0, len(r.Rows))
		names := r.Names()
		for _, row := range r.Rows {
			obj := make(map[string]any, len(row))
			for i, v := range row {
				if t, ok := v.(time.Time); ok {
					v = t.UTC().Format(time.RFC3339)
				}
				obj[names[i]] = v
			}
			out = append(out, obj)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return fmt.Errorf("format %q: must be table, csv or json", format)
}

func formatValue(v any, short bool) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case float64:
		if short {
			return strconv.FormatFloat(x, 'g', 6, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return formatValue(float64(x), short)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// ReturnsRows reports whether the statement sql answers with rows (SELECT, WITH, SHOW,
// DESCRIBE, EXISTS, EXPLAIN, or one of them in parentheses), judged by its first word after
// white space and comments. Other statements (CREATE, DROP, INSERT, ALTER, OPTIMIZE, …) are
// run with Exec: asked for rows, the 18.16 server ends such a statement without a result
// block, which the driver reports as EOF although the statement ran.
func ReturnsRows(sql string) bool {
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[i+1:]
				continue
			}
			return false
		case strings.HasPrefix(s, "/*"):
			if i := strings.Index(s, "*/"); i >= 0 {
				s = s[i+2:]
				continue
			}
			return false
		}
		break
	}
	end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(s)
	}
	switch strings.ToUpper(s[:end]) {
	case "SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN":
		return true
	}
	return false
}
