package clickhouse

import (
	"fmt"
)

// RowError says why Add rejected a row: wrong number of values, or a value that does not fit
// its column. The row was not buffered. It is Permanent.
type RowError struct {
	Table  string
	Column string // empty when the number of values is wrong
	Err    error
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("row for %s: %v", e.Table, e.Err)
	}
	return fmt.Sprintf("row for %s: column %s: %v", e.Table, e.Column, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// rowBuffer holds buffered rows column by column. Not safe for concurrent use.
type rowBuffer struct {
	names    []string
	types    []string
	cols     []colBuf
	columnar bool // every column has a typed buffer
}

func newRowBuffer(names, types []string) *rowBuffer {
	b := &rowBuffer{names: names, types: types, cols: make([]colBuf, len(names)), columnar: true}
	for i, t := range types {
		b.cols[i] = newColBuf(t)
		if !b.cols[i].columnar() {
			b.columnar = false
		}
	}
	return b
}

// emptyLike returns an empty buffer for the same columns.
func (b *rowBuffer) emptyLike() *rowBuffer {
	nb := &rowBuffer{names: b.names, types: b.types, cols: make([]colBuf, len(b.cols)), columnar: b.columnar}
	for i, c := range b.cols {
		nb.cols[i] = c.empty()
	}
	return nb
}

func (b *rowBuffer) len() int {
	if len(b.cols) == 0 {
		return 0
	}
	return b.cols[0].len()
}

// add appends one row, all values or none.
func (b *rowBuffer) add(table string, row []any) error {
	if len(row) != len(b.cols) {
		return &RowError{Table: table, Err: fmt.Errorf("got %d values for %d columns", len(row), len(b.cols))}
	}
	n := b.len()
	for i, v := range row {
		if err := b.cols[i].add(v); err != nil {
			for j := 0; j < i; j++ {
				b.cols[j].truncate(n)
			}
			return &RowError{Table: table, Column: b.names[i], Err: fmt.Errorf("%s: %w", b.types[i], err)}
		}
	}
	return nil
}

// appendFrom appends all rows of o (same columns).
func (b *rowBuffer) appendFrom(o *rowBuffer) {
	for i, c := range b.cols {
		c.appendFrom(o.cols[i])
	}
}

// reset empties the buffer, keeping its capacity.
func (b *rowBuffer) reset() {
	for _, c := range b.cols {
		c.truncate(0)
	}
}

// row returns the values of row i (for row-wise driver appends).
func (b *rowBuffer) row(i int, dst []any) []any {
	dst = dst[:0]
	for _, c := range b.cols {
		dst = append(dst, c.value(i))
	}
	return dst
}
