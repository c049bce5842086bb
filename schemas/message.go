package schemas

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Schema names, carried in the "schema" field of every message. The name
// ends in the version; see the package documentation for what may change
// within a version.
const (
	SchemaBlock           = "hashatlas.block.v1"
	SchemaDifficultyEpoch = "hashatlas.difficulty-epoch.v1"
	SchemaPoolStats       = "hashatlas.pool-stats.v1"
	SchemaGridObservation = "hashatlas.grid.v1"
	SchemaEstimate        = "hashatlas.estimate.v1"
	SchemaDeadLetter      = "hashatlas.dead-letter.v1"
)

// knownSchemas lists the schema names Decode reads, for error messages.
var knownSchemas = []string{SchemaBlock, SchemaDifficultyEpoch, SchemaPoolStats, SchemaGridObservation, SchemaEstimate, SchemaDeadLetter}

// Message is implemented by every message type of this package: *Block,
// *DifficultyEpoch, *PoolStats, *GridObservation, *Estimate and *DeadLetter
// (and their non-pointer forms, since the methods have value receivers).
// Pass pointers: a struct value stored in an interface is a copy.
//
// The methods do not modify the message and are safe for concurrent use on
// a message that nobody modifies.
type Message interface {
	// SchemaName returns the schema name of the type, e.g.
	// "hashatlas.block.v1"; it is constant per type.
	SchemaName() string
	// Topic returns the topic the message is published on.
	Topic() string
	// Key returns the Kafka key, derived deterministically from the content
	// (see the Topic* constants for each format). Only a valid message has a
	// meaningful key.
	Key() string
	// Validate checks every rule of the schema and returns nil, a
	// *FieldError, or an errors.Join of *FieldError, one per broken rule.
	Validate() error
}

// codec is implemented by the pointer types of this package.
type codec interface {
	Message
	// appendJSON appends the message's JSON to b (the message is valid),
	// growing b once to the size the message needs.
	appendJSON(b []byte) []byte
	// decodeField reads the value of member i (fieldSet().names[i]) into
	// the message. For i == 0 decodeObject has already read and checked the
	// schema name and decodeField only records it.
	decodeField(r *reader, i int) error
	// fieldSet describes the type's JSON members.
	fieldSet() *fieldSet
}

// fieldSet describes the JSON members of a message type: names[i] is the
// member with index i (names[0] is always "schema"), and required has bit i
// set when member i must be present.
type fieldSet struct {
	names    []string
	required uint64
}

// asCodec returns the codec for m, copying non-pointer values.
func asCodec(m Message) (codec, error) {
	switch v := m.(type) {
	case *Block:
		if v != nil {
			return v, nil
		}
	case Block:
		return &v, nil
	case *DifficultyEpoch:
		if v != nil {
			return v, nil
		}
	case DifficultyEpoch:
		return &v, nil
	case *PoolStats:
		if v != nil {
			return v, nil
		}
	case PoolStats:
		return &v, nil
	case *GridObservation:
		if v != nil {
			return v, nil
		}
	case GridObservation:
		return &v, nil
	case *Estimate:
		if v != nil {
			return v, nil
		}
	case Estimate:
		return &v, nil
	case *DeadLetter:
		if v != nil {
			return v, nil
		}
	case DeadLetter:
		return &v, nil
	case nil:
		return nil, errors.New("encode: nil message")
	default:
		return nil, fmt.Errorf("encode: %T is not a message type of package schemas", m)
	}
	return nil, fmt.Errorf("encode: nil %T", m)
}

// Encode validates m and returns its JSON encoding: one line, members in the
// order of the struct fields, "schema" first and set to m.SchemaName() (an
// empty Schema field is filled in; a different one is a validation error).
// The output decodes with Decode to a value equal to m, except that Schema
// is set, empty lists decode as nil and times come back in time.UTC.
//
// An invalid message is not encoded: the error wraps the *FieldError(s) of
// Validate (reach them with errors.As). The returned slice is newly
// allocated and owned by the caller.
func Encode(m Message) ([]byte, error) {
	return AppendEncode(nil, m)
}

// AppendEncode is Encode appending to dst: it validates m and appends its JSON encoding to dst,
// growing it as append does, and returns the extended slice (dst unchanged on error). A
// publisher encodes a whole batch into one reused buffer with it instead of allocating every
// message.
func AppendEncode(dst []byte, m Message) ([]byte, error) {
	// The kinds a publisher sends by value in bulk (blocks, estimates) are encoded from the
	// value itself: asCodec's copy of a value escapes to the heap, an allocation of the whole
	// message each (a replay publishes 466,000 of them).
	switch v := m.(type) {
	case Block:
		if err := v.Validate(); err != nil {
			return dst, fmt.Errorf("encode %s: %w", v.SchemaName(), err)
		}
		return v.appendJSON(dst), nil
	case Estimate:
		if err := v.Validate(); err != nil {
			return dst, fmt.Errorf("encode %s: %w", v.SchemaName(), err)
		}
		return v.appendJSON(dst), nil
	}
	c, err := asCodec(m)
	if err != nil {
		return dst, err
	}
	if err := c.Validate(); err != nil {
		return dst, fmt.Errorf("encode %s: %w", c.SchemaName(), err)
	}
	return c.appendJSON(dst), nil
}

// Decode reads one message: it finds the "schema" member, decodes the JSON
// strictly into the matching type (unknown, duplicate and missing members
// are errors, as are null where a value is required and values of the wrong
// type) and validates it. It returns a pointer type (*Block, *Estimate, …);
// switch on it or use DecodeAs.
//
// Every error is a *DecodeError that names the schema and the field at
// fault. The message does not alias data: the caller may reuse data after
// Decode returns. Decode is safe for concurrent use.
func Decode(data []byte) (Message, error) {
	return decode(data, false)
}

// DecodeShared is Decode for a caller that hands data over: the message's strings share data's
// memory instead of a copy of it (one allocation and copy of the whole message fewer, which the
// Kafka consumer saves per record), so data must never be modified afterwards. On error nothing
// refers to data.
func DecodeShared(data []byte) (Message, error) {
	return decode(data, true)
}

func decode(data []byte, shared bool) (Message, error) {
	name, err := findSchema(data)
	if err != nil {
		return nil, err
	}
	var c codec
	switch string(name) {
	case SchemaBlock:
		c = new(Block)
	case SchemaDifficultyEpoch:
		c = new(DifficultyEpoch)
	case SchemaPoolStats:
		c = new(PoolStats)
	case SchemaGridObservation:
		c = new(GridObservation)
	case SchemaEstimate:
		c = new(Estimate)
	case SchemaDeadLetter:
		c = new(DeadLetter)
	default:
		return nil, &DecodeError{
			Schema: printable(string(name)),
			Field:  "schema",
			Reason: "is not a known schema (known: " + strings.Join(knownSchemas, ", ") + ")",
		}
	}
	if err := decodeInto(data, c, shared); err != nil {
		return nil, err
	}
	return c, nil
}

// DecodeAs decodes data like Decode and returns it as T, which may be a
// pointer type (*Block) or a value type (Block). A message of another schema
// is a *DecodeError on field "schema".
func DecodeAs[T Message](data []byte) (T, error) {
	var zero T
	m, err := Decode(data)
	if err != nil {
		return zero, err
	}
	if t, ok := m.(T); ok {
		return t, nil
	}
	if t, ok := deref(m).(T); ok {
		return t, nil
	}
	return zero, &DecodeError{
		Schema: m.SchemaName(),
		Field:  "schema",
		Reason: fmt.Sprintf("is %s, want a message of type %T", m.SchemaName(), zero),
	}
}

func deref(m Message) any {
	switch v := m.(type) {
	case *Block:
		return *v
	case *DifficultyEpoch:
		return *v
	case *PoolStats:
		return *v
	case *GridObservation:
		return *v
	case *Estimate:
		return *v
	case *DeadLetter:
		return *v
	}
	return nil
}

// decodeInto decodes data into c and validates it.
func decodeInto(data []byte, c codec, shared bool) error {
	r := reader{data: data}
	if shared && len(data) > 0 {
		r.text = unsafe.String(unsafe.SliceData(data), len(data))
	}
	if err := decodeObject(&r, c); err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Schema = c.SchemaName()
		}
		return err
	}
	if err := c.Validate(); err != nil {
		de := &DecodeError{Schema: c.SchemaName(), Reason: err.Error(), Err: err}
		if fe := firstFieldError(err); fe != nil {
			de.Field, de.Reason = fe.Field, fe.Reason
		}
		return de
	}
	return nil
}

// decodeObject reads the members of one JSON object into c, then checks
// that nothing follows it.
func decodeObject(r *reader, c codec) error {
	fs := c.fieldSet()
	if err := r.openObject(); err != nil {
		return err
	}
	var seen uint64
	next := 0 // the encoder's order makes the next member the likely one
	for first := true; ; first = false {
		want := ""
		if next < len(fs.names) {
			want = fs.names[next]
		}
		key, ok, err := r.nextKey(first, want)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		i := -1
		if next < len(fs.names) && string(key) == fs.names[next] {
			i = next
		} else {
			for j, name := range fs.names {
				if string(key) == name {
					i = j
					break
				}
			}
		}
		if i < 0 {
			return &DecodeError{Field: printable(string(key)), Reason: "unknown field (known: " + strings.Join(fs.names, ", ") + ")"}
		}
		if seen&(1<<i) != 0 {
			return &DecodeError{Field: fs.names[i], Reason: "appears twice"}
		}
		seen |= 1 << i
		next = i + 1
		if i == 0 {
			b, _, err := r.strBytes()
			if err != nil {
				return atField(err, "schema")
			}
			if string(b) != c.SchemaName() {
				return &DecodeError{Field: "schema", Reason: "is " + strconv.Quote(truncate(string(b))) + " in a message read as " + c.SchemaName()}
			}
		}
		if err := c.decodeField(r, i); err != nil {
			return atField(err, fs.names[i])
		}
	}
	if missing := fs.required &^ seen; missing != 0 {
		return &DecodeError{Field: fs.names[bits.TrailingZeros64(missing)], Reason: "is missing"}
	}
	return r.end()
}

// truncate shortens s for error messages, at a rune boundary.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// printable returns s, shortened, for use as a field or schema name in an
// error: as it is when it is printable ASCII, else quoted with escapes, so
// that an error stays one line whatever the input.
func printable(s string) string {
	s = truncate(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

// requiredAll returns the mask with bits 0..n-1 set except those in optional.
func requiredAll(n int, optional ...int) uint64 {
	m := uint64(1)<<n - 1
	for _, i := range optional {
		m &^= 1 << i
	}
	return m
}
