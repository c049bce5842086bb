package schemas

import (
	"errors"
	"strconv"
	"strings"
)

// FieldError reports one validation rule that a message breaks.
//
// Field is the JSON path of the value at fault, as it appears on the wire:
// "height", "coinbase_addresses[2]", "window_end". Reason says what the rule
// is, in words that fit after the field name ("must be >= 0").
type FieldError struct {
	Field  string
	Reason string
}

// Error returns "field <path>: <reason>", e.g. "field height: must be >= 0".
func (e *FieldError) Error() string {
	return "field " + e.Field + ": " + e.Reason
}

// DecodeError is the error Decode returns: the message could not be read
// (malformed JSON, a value of the wrong type, an unknown, duplicate or missing
// field, an unknown schema) or it was read but breaks a validation rule.
//
// Schema is the schema name the message declared ("" when it declared none or
// the JSON could not be read far enough). Field is the JSON path of the value
// at fault, or "" when the fault is not in one field (e.g. the input is not a
// JSON object). Reason says what is wrong in one line. Err is the underlying
// error when there is one: for validation failures it is the *FieldError (or
// an errors.Join of several, of which Field and Reason describe the first);
// errors.As reaches each *FieldError through it.
type DecodeError struct {
	Schema string
	Field  string
	Reason string
	Err    error
}

// Error returns one line: "decode <schema>: field <path>: <reason>", leaving
// out the parts that are empty, and "(and N more)" when validation found
// several faults.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("decode")
	if e.Schema != "" {
		b.WriteString(" ")
		b.WriteString(e.Schema)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	if j, ok := e.Err.(interface{ Unwrap() []error }); ok {
		if n := len(j.Unwrap()); n > 1 {
			b.WriteString(" (and ")
			b.WriteString(strconv.Itoa(n - 1))
			b.WriteString(" more)")
		}
	}
	return b.String()
}

// Unwrap returns the underlying error, which may be nil.
func (e *DecodeError) Unwrap() error { return e.Err }

// fieldErrors accumulates validation failures. The zero value is ready to use
// and costs nothing while no rule is broken, which keeps Validate free of
// allocations on valid messages.
type fieldErrors []error

func (fe *fieldErrors) add(field, reason string) {
	*fe = append(*fe, &FieldError{Field: field, Reason: reason})
}

// check records reason against field unless reason is "" (rule satisfied).
func (fe *fieldErrors) check(field, reason string) {
	if reason != "" {
		fe.add(field, reason)
	}
}

func (fe fieldErrors) err() error {
	switch len(fe) {
	case 0:
		return nil
	case 1:
		return fe[0]
	default:
		return errors.Join(fe...)
	}
}

// firstFieldError returns the first *FieldError inside err (a *FieldError or
// a join of them), or nil.
func firstFieldError(err error) *FieldError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}
