// Package replay is the file source: it replays block history from a CSV file
// (height,time_unix,pool_slug[,bits_hex], gzip or plain — the format of
// ../shared/data/blocks_2021_2026.csv.gz) and difficulty epochs from a CSV file
// (epoch_start_height,bits_hex,difficulty), publishing the same messages the chain collectors
// publish, with attribution method "file".
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// BlockRow is one row of a block history file.
type BlockRow struct {
	Height int64
	Time   time.Time // header time, UTC
	Pool   string
	Bits   uint32 // 0 when the file has no bits column
}

// EpochRow is one row of a difficulty-epochs file.
type EpochRow struct {
	StartHeight int64
	Bits        uint32
	Difficulty  float64
}

// ParseError names the file, line and what was wrong.
type ParseError struct {
	File   string
	Line   int
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason) }

// maybeGunzip returns a reader of the plain content of r, gunzipping when it starts with the
// gzip magic bytes.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if bytes.Equal(head, []byte{0x1f, 0x8b}) {
		return gzip.NewReader(br)
	}
	return br, nil
}

// ReadBlocks parses a block history file (gzip or plain) and calls fn for each row in file
// order. Header: height,time_unix,pool_slug with an optional fourth column bits_hex. Heights
// must be strictly increasing. fn's error stops the read and is returned.
func ReadBlocks(r io.Reader, file string, fn func(BlockRow) error) error {
	plain, err := maybeGunzip(r)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	sc := bufio.NewScanner(plain)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	hasBits := false
	prev := int64(-1)
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			switch text {
			case "height,time_unix,pool_slug":
			case "height,time_unix,pool_slug,bits_hex":
				hasBits = true
			default:
				return &ParseError{file, line, fmt.Sprintf("header %q: want height,time_unix,pool_slug[,bits_hex]", text)}
			}
			continue
		}
		if text == "" {
			continue
		}
		f := strings.Split(text, ",")
		want := 3
		if hasBits {
			want = 4
		}
		if len(f) != want {
			return &ParseError{file, line, fmt.Sprintf("%d fields, want %d", len(f), want)}
		}
		h, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || h < 0 {
			return &ParseError{file, line, fmt.Sprintf("height %q: not a non-negative integer", f[0])}
		}
		if h <= prev {
			return &ParseError{file, line, fmt.Sprintf("height %d after %d: heights must increase", h, prev)}
		}
		prev = h
		ts, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || ts < 1231006505 { // the genesis block's time
			return &ParseError{file, line, fmt.Sprintf("time_unix %q: not a unix time at or after the genesis block", f[1])}
		}
		pool := f[2]
		if pool == "" {
			return &ParseError{file, line, "pool_slug is empty (use unknown)"}
		}
		row := BlockRow{Height: h, Time: time.Unix(ts, 0).UTC(), Pool: pool}
		if hasBits {
			b, err := strconv.ParseUint(f[3], 16, 32)
			if err != nil || len(f[3]) != 8 {
				return &ParseError{file, line, fmt.Sprintf("bits_hex %q: want 8 hex digits", f[3])}
			}
			row.Bits = uint32(b)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: line %d: %w", file, line+1, err)
	}
	if line == 0 {
		return &ParseError{file, 1, "empty file"}
	}
	return nil
}

// ReadEpochs parses a difficulty-epochs file: header epoch_start_height,bits_hex,difficulty;
// start heights multiples of 2016, strictly increasing; difficulty positive.
func ReadEpochs(r io.Reader, file string) ([]EpochRow, error) {
	plain, err := maybeGunzip(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	sc := bufio.NewScanner(plain)
	var out []EpochRow
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			if text != "epoch_start_height,bits_hex,difficulty" {
				return nil, &ParseError{file, line, fmt.Sprintf("header %q: want epoch_start_height,bits_hex,difficulty", text)}
			}
			continue
		}
		if text == "" {
			continue
		}
		f := strings.Split(text, ",")
		if len(f) != 3 {
			return nil, &ParseError{file, line, fmt.Sprintf("%d fields, want 3", len(f))}
		}
		h, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || h < 0 || h%2016 != 0 {
			return nil, &ParseError{file, line, fmt.Sprintf("epoch_start_height %q: want a non-negative multiple of 2016", f[0])}
		}
		if n := len(out); n > 0 && h <= out[n-1].StartHeight {
			return nil, &ParseError{file, line, fmt.Sprintf("epoch %d after %d: must increase", h, out[n-1].StartHeight)}
		}
		b, err := strconv.ParseUint(f[1], 16, 32)
		if err != nil || len(f[1]) != 8 {
			return nil, &ParseError{file, line, fmt.Sprintf("bits_hex %q: want 8 hex digits", f[1])}
		}
		d, err := strconv.ParseFloat(f[2], 64)
		if err != nil || !(d > 0) {
			return nil, &ParseError{file, line, fmt.Sprintf("difficulty %q: want a positive number", f[2])}
		}
		out = append(out, EpochRow{StartHeight: h, Bits: uint32(b), Difficulty: d})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w", file, line+1, err)
	}
	if len(out) == 0 {
		return nil, &ParseError{file, max(line, 1), "no epochs"}
	}
	return out, nil
}

// EpochAt returns the epoch containing height (epochs sorted by start), or false when the
// height lies before the first epoch or more than one epoch past the last.
func EpochAt(epochs []EpochRow, height int64) (EpochRow, bool) {
	lo, hi := 0, len(epochs)-1
	if len(epochs) == 0 || height < epochs[0].StartHeight {
		return EpochRow{}, false
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if epochs[mid].StartHeight <= height {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	e := epochs[lo]
	if height >= e.StartHeight+2016 {
		return EpochRow{}, false
	}
	return e, true
}
