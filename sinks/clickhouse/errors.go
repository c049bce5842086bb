package clickhouse

import (
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"syscall"

	"database/sql/driver"
	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// Class is what a retry decision needs to know about an error.
type Class int

const (
	// Permanent errors cannot be cured by trying again: syntax errors, unknown tables or
	// columns, type mismatches, authentication failures, bad rows, and every error this
	// package does not recognise (retrying what we do not understand would only hide it).
	Permanent Class = iota
	// Retryable errors are transient: the server was unreachable, the connection broke, an
	// I/O timeout, or the server refused for now (too many queries, memory limit, too many
	// parts, network errors between replicas).
	Retryable
	// Canceled means the caller's context was cancelled or its deadline passed. It is not
	// retried: the caller has given up.
	Canceled
)

// String returns "permanent", "retryable" or "canceled"; it is the metric label value.
func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case Canceled:
		return "canceled"
	default:
		return "permanent"
	}
}

// Error codes of ClickHouse (src/Common/ErrorCodes.cpp) that mean "try again later".
// Everything else the server reports is a property of the statement or the data and is
// permanent.
var retryableCodes = map[int32]string{
	3:   "UNEXPECTED_END_OF_FILE",
	159: "TIMEOUT_EXCEEDED",
	173: "CANNOT_ALLOCATE_MEMORY",
	202: "TOO_MANY_SIMULTANEOUS_QUERIES",
	203: "NO_FREE_CONNECTION",
	209: "SOCKET_TIMEOUT",
	210: "NETWORK_ERROR",
	225: "NO_ZOOKEEPER",
	236: "ABORTED",
	241: "MEMORY_LIMIT_EXCEEDED",
	242: "TABLE_IS_READ_ONLY",
	252: "TOO_MANY_PARTS",
	279: "ALL_CONNECTION_TRIES_FAILED",
	285: "TOO_FEW_LIVE_REPLICAS",
	319: "UNKNOWN_STATUS_OF_INSERT",
	373: "SESSION_IS_LOCKED",
	394: "QUERY_WAS_CANCELLED",
	439: "CANNOT_SCHEDULE_TASK",
	999: "KEEPER_EXCEPTION",
}

func isRetryableCode(code int32) bool {
	_, ok := retryableCodes[code]
	return ok
}

// chdbCode finds the error code in chDB's error text, "Code: 60. DB::Exception: …".
var chdbCode = regexp.MustCompile(`Code: (\d+)\. `)

// ErrorCode returns the ClickHouse error code carried by err (an exception from the server or
// from the embedded engine), and false when err carries none.
func ErrorCode(err error) (int32, bool) {
	var ex *ch.Exception
	if errors.As(err, &ex) {
		return ex.Code, true
	}
	if err == nil {
		return 0, false
	}
	if m := chdbCode.FindStringSubmatch(err.Error()); m != nil {
		if n, perr := strconv.ParseInt(m[1], 10, 32); perr == nil {
			return int32(n), true
		}
	}
	return 0, false
}

// Classify tells whether err is worth retrying. A nil error is Permanent (there is nothing to
// retry). It inspects wrapped errors, so errors returned by this package classify like the
// underlying driver error.
func Classify(err error) Class {
	if err == nil {
		return Permanent
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled
	}
	if code, ok := ErrorCode(err); ok {
		if isRetryableCode(code) {
			return Retryable
		}
		return Permanent
	}
	var rowErr *RowError
	if errors.As(err, &rowErr) {
		return Permanent
	}
	// The driver's OpError does not unwrap; look inside it (column conversion errors in it
	// classify as permanent, connection errors as retryable).
	var chOp *ch.OpError
	if errors.As(err, &chOp) && chOp.Err != nil {
		return Classify(chOp.Err)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, ch.ErrAcquireConnTimeout),
		errors.Is(err, ch.ErrConnectionClosed):
		return Retryable
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Retryable
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		// Dial, read and write failures on a TCP connection: the server or the network
		// went away; a new connection may well succeed.
		return Retryable
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout) {
		return Retryable
	}
	return Permanent
}

// IsRetryable reports whether Classify(err) is Retryable.
func IsRetryable(err error) bool { return Classify(err) == Retryable }

// codeReadOnly is ClickHouse's READONLY error: the statement writes, or changes a setting,
// under readonly = 1.
const codeReadOnly = 164

// ErrReadOnly is returned for a statement a read-only DB (Config.ReadOnly) refuses before it
// reaches the engine: an INSERT with its rows in the text.
var ErrReadOnly = errors.New("refused in read-only mode")

// IsReadOnlyRefusal reports whether err is the refusal of a statement under readonly = 1: the
// engine's READONLY error (code 164), or ErrReadOnly.
func IsReadOnlyRefusal(err error) bool {
	if errors.Is(err, ErrReadOnly) {
		return true
	}
	code, ok := ErrorCode(err)
	return ok && code == codeReadOnly
}
