package schemas

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// reader is a strict JSON reader over one message, written for the shapes the
// schemas use (one flat object of strings, numbers, booleans, times, base64
// bytes and lists of strings). It is stricter than encoding/json: keys match
// exactly (not case-insensitively), null is accepted only where a field is
// documented as optional, strings must be valid UTF-8 with no lone surrogate
// escapes, and integers must be written without a fraction or exponent.
// Anything it accepts, encoding/json also accepts with the same result (the
// fuzz test checks this).
//
// Errors are *DecodeError with Reason set and Field empty; the per-type
// decoders fill in Field, and Decode fills in Schema.
type reader struct {
	data []byte
	pos  int
	// text is data as one string, made on the first string field: unescaped string values are
	// substrings of it, so a message costs one string allocation instead of one per field.
	text string
}

// maxDepth bounds nesting when skipping values we do not decode.
const maxDepth = 64

func (r *reader) fail(reason string) *DecodeError {
	return &DecodeError{Reason: reason}
}

// failAt reports a syntax error at the current offset; at the end of the
// input it says the JSON is truncated.
func (r *reader) failAt(what string) *DecodeError {
	if r.pos >= len(r.data) {
		return &DecodeError{Reason: "truncated JSON: unexpected end of input at byte " + strconv.Itoa(r.pos)}
	}
	return &DecodeError{Reason: "invalid JSON at byte " + strconv.Itoa(r.pos) + ": " + what + ", found " + quoteByte(r.data[r.pos])}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

func (r *reader) skipWS() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// atField names field as the place of a reader error that names none yet.
func atField(err error, field string) error {
	if de, ok := err.(*DecodeError); ok && de.Field == "" {
		de.Field = field
	}
	return err
}

// kind names the JSON value starting at the current position, for errors.
func (r *reader) kind() string {
	if r.pos >= len(r.data) {
		return "end of input"
	}
	switch c := r.data[r.pos]; {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	default:
		return "invalid JSON " + quoteByte(c)
	}
}

// typeError reports that the value at the current position is not of the
// wanted type. A truncated input is reported as such.
func (r *reader) typeError(want string) *DecodeError {
	if r.pos >= len(r.data) {
		return r.failAt("")
	}
	return r.fail("must be " + want + ", found " + r.kind())
}

// openObject consumes the '{' that starts an object.
func (r *reader) openObject() error {
	r.skipWS()
	if r.pos >= len(r.data) || r.data[r.pos] != '{' {
		if r.pos >= len(r.data) {
			return r.failAt("")
		}
		return r.fail("message must be a JSON object, found " + r.kind())
	}
	r.pos++
	return nil
}

// nextKey advances to the next member of the object opened by openObject:
// it consumes the ',' separator (when first is false), the key and the ':'.
// It returns ok == false after consuming the closing '}'. The key aliases
// the input unless it contained escapes. want, when not empty, is the name
// the caller expects (it must need no escaping): it is matched directly.
func (r *reader) nextKey(first bool, want string) (key []byte, ok bool, err error) {
	r.skipWS()
	if r.pos >= len(r.data) {
		return nil, false, r.failAt("")
	}
	c := r.data[r.pos]
	if c == '}' {
		r.pos++
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, r.failAt("expected ',' or '}' after a member")
		}
		r.pos++
		r.skipWS()
		if r.pos >= len(r.data) {
			return nil, false, r.failAt("")
		}
	}
	if r.data[r.pos] != '"' {
		return nil, false, r.failAt("expected a member name in double quotes")
	}
	// The encoder writes members in order, so the expected name followed by its closing quote
	// is nearly always next: a member name has no escapes, so those raw bytes are the key.
	if end := r.pos + 1 + len(want); want != "" && end < len(r.data) && r.data[end] == '"' &&
		string(r.data[r.pos+1:end]) == want {
		key = r.data[r.pos+1 : end]
		r.pos = end + 1
	} else if key, _, err = r.strBytes(); err != nil {
		return nil, false, err
	}
	r.skipWS()
	if r.pos >= len(r.data) || r.data[r.pos] != ':' {
		return nil, false, r.failAt("expected ':' after member name")
	}
	r.pos++
	return key, true, nil
}

// end checks that nothing but white space follows the message.
func (r *reader) end() error {
	r.skipWS()
	if r.pos != len(r.data) {
		return r.fail("invalid JSON at byte " + strconv.Itoa(r.pos) + ": data after the end of the message")
	}
	return nil
}

// null consumes a JSON null if one is next and reports whether it did.
func (r *reader) null() bool {
	r.skipWS()
	if len(r.data)-r.pos >= 4 && string(r.data[r.pos:r.pos+4]) == "null" {
		r.pos += 4
		return true
	}
	return false
}

// plainASCII marks the bytes a string can contain without a closer look:
// printable ASCII other than '"' and '\\'.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// expectString checks that a string is next, reporting want otherwise.
func (r *reader) expectString(want string) error {
	r.skipWS()
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return r.typeError(want)
	}
	return nil
}

// strBytes reads a JSON string. The result aliases the input when the string
// has no escapes (escaped reports whether it had any); otherwise it is a new
// buffer.
func (r *reader) strBytes() (b []byte, escaped bool, err error) {
	r.skipWS()
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return nil, false, r.typeError("a string")
	}
	start := r.pos + 1
	ascii := true
	d := r.data
	for i := start; i < len(d); i++ {
		// Skip plain ASCII quickly, a word and then a byte at a time; fall into the switch on
		// anything else.
		i += plainRun(d, i)
		for i < len(d) && plainASCII[d[i]] {
			i++
		}
		if i == len(d) {
			break
		}
		switch c := d[i]; {
		case c == '"':
			r.pos = i + 1
			s := r.data[start:i]
			if !ascii && !utf8.Valid(s) {
				return nil, false, r.fail("string is not valid UTF-8")
			}
			return s, false, nil
		case c == '\\':
			b, err := r.strSlow(start, i)
			return b, true, err
		case c < 0x20:
			r.pos = i
			return nil, false, r.failAt("control character in string")
		case c >= 0x80:
			ascii = false
		}
	}
	r.pos = len(r.data)
	return nil, false, r.failAt("")
}

// strSlow finishes reading a string that contains escapes; data[start:i] has
// been scanned already and data[i] is the first backslash.
func (r *reader) strSlow(start, i int) ([]byte, error) {
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, r.data[start:i]...)
	for i < len(r.data) {
		c := r.data[i]
		switch {
		case c == '"':
			r.pos = i + 1
			if !utf8.Valid(buf) {
				return nil, r.fail("string is not valid UTF-8")
			}
			return buf, nil
		case c < 0x20:
			r.pos = i
			return nil, r.failAt("control character in string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		// Escape sequence.
		if i+1 >= len(r.data) {
			r.pos = len(r.data)
			return nil, r.failAt("")
		}
		switch e := r.data[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
			i += 2
		case 'b':
			buf = append(buf, '\b')
			i += 2
		case 'f':
			buf = append(buf, '\f')
			i += 2
		case 'n':
			buf = append(buf, '\n')
			i += 2
		case 'r':
			buf = append(buf, '\r')
			i += 2
		case 't':
			buf = append(buf, '\t')
			i += 2
		case 'u':
			r1, ok := hex4(r.data, i+2)
			if !ok {
				r.pos = i
				return nil, r.failAt("invalid \\u escape")
			}
			i += 6
			if r1 >= 0xd800 && r1 < 0xdc00 {
				// High surrogate: a low surrogate escape must follow.
				r2, ok := -1, false
				if i+1 < len(r.data) && r.data[i] == '\\' && r.data[i+1] == 'u' {
					r2, ok = hex4(r.data, i+2)
				}
				if !ok || r2 < 0xdc00 || r2 >= 0xe000 {
					r.pos = i
					return nil, r.fail("invalid JSON at byte " + strconv.Itoa(i) + ": unpaired surrogate in \\u escape")
				}
				i += 6
				r1 = (r1-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
			} else if r1 >= 0xdc00 && r1 < 0xe000 {
				r.pos = i
				return nil, r.fail("invalid JSON at byte " + strconv.Itoa(i) + ": unpaired surrogate in \\u escape")
			}
			buf = utf8.AppendRune(buf, rune(r1))
		default:
			r.pos = i
			return nil, r.failAt("invalid escape in string")
		}
	}
	r.pos = len(r.data)
	return nil, r.failAt("")
}

func hex4(data []byte, at int) (int, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	v := 0
	for _, c := range data[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// str reads a JSON string into a new Go string.
func (r *reader) str() (string, error) {
	b, escaped, err := r.strBytes()
	if err != nil {
		return "", err
	}
	if escaped {
		// strSlow made b for this string alone: it becomes the string without a copy.
		return unsafe.String(unsafe.SliceData(b), len(b)), nil
	}
	if len(b) == 0 {
		return "", nil
	}
	if r.text == "" {
		r.text = string(r.data)
	}
	// b aliases r.data: its offset follows from the capacities.
	start := cap(r.data) - cap(b)
	return r.text[start : start+len(b)], nil
}

// enum reads a JSON string and returns the matching constant from values
// without allocating; a value outside the set is returned as read, for
// Validate to reject with the list of allowed values.
func (r *reader) enum(values []string) (string, error) {
	b, _, err := r.strBytes()
	if err != nil {
		return "", err
	}
	for _, v := range values {
		if string(b) == v {
			return v, nil
		}
	}
	return string(b), nil
}

// number scans a JSON number and returns its text; isInt reports that it has
// neither a fraction nor an exponent.
func (r *reader) number() (text []byte, isInt bool, err error) {
	r.skipWS()
	d := r.data
	start, i := r.pos, r.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		if i == start {
			return nil, false, r.typeError("a number")
		}
		r.pos = i
		return nil, false, r.failAt("")
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		if i == start {
			return nil, false, r.typeError("a number")
		}
		r.pos = i
		return nil, false, r.failAt("expected a digit")
	}
	isInt = true
	if i < len(d) && d[i] == '.' {
		isInt = false
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			r.pos = i
			return nil, false, r.failAt("expected a digit after '.'")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		isInt = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			r.pos = i
			return nil, false, r.failAt("expected a digit in exponent")
		}
	}
	r.pos = i
	return d[start:i], isInt, nil
}

// int64 reads a JSON integer that fits in an int64.
func (r *reader) int64() (int64, error) {
	text, isInt, err := r.number()
	if err != nil {
		return 0, err
	}
	if !isInt {
		return 0, r.fail("must be an integer, found " + string(text))
	}
	neg := text[0] == '-'
	digits := text
	if neg {
		digits = text[1:]
	}
	var u uint64
	for _, c := range digits {
		if u > (1<<63)/10 {
			return 0, r.fail("integer " + string(text) + " is out of range")
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case !neg && u > 1<<63-1, neg && u > 1<<63:
		return 0, r.fail("integer " + string(text) + " is out of range")
	case neg:
		return -int64(u), nil
	default:
		return int64(u), nil
	}
}

// int32 reads a JSON integer that fits in an int32.
func (r *reader) int32() (int32, error) {
	v, err := r.int64()
	if err != nil {
		return 0, err
	}
	if v < -1<<31 || v > 1<<31-1 {
		return 0, r.fail("integer " + strconv.FormatInt(v, 10) + " is out of range for int32")
	}
	return int32(v), nil
}

// float64 reads a JSON number as a float64.
func (r *reader) float64() (float64, error) {
	text, _, err := r.number()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return 0, r.fail("number " + string(text) + " is out of range for float64")
	}
	return f, nil
}

// bool reads true or false.
func (r *reader) bool() (bool, error) {
	r.skipWS()
	d := r.data[r.pos:]
	switch {
	case len(d) >= 4 && string(d[:4]) == "true":
		r.pos += 4
		return true, nil
	case len(d) >= 5 && string(d[:5]) == "false":
		r.pos += 5
		return false, nil
	default:
		return false, r.typeError("true or false")
	}
}

// time reads an RFC 3339 time with a zero UTC offset and returns it in UTC.
func (r *reader) time() (time.Time, error) {
	if err := r.expectString("an RFC 3339 time string"); err != nil {
		return time.Time{}, err
	}
	b, escaped, err := r.strBytes()
	if err != nil {
		return time.Time{}, err
	}
	if !escaped {
		if t, ok := parseUTC(b); ok {
			return t, nil
		}
	}
	var t time.Time
	if escaped || t.UnmarshalText(b) != nil {
		return time.Time{}, r.fail("must be an RFC 3339 time like \"2024-04-20T00:09:27Z\", found " + strconv.Quote(string(b)))
	}
	if _, off := t.Zone(); off != 0 {
		return time.Time{}, r.fail("must be in UTC (offset Z), found " + strconv.Quote(string(b)))
	}
	return t.UTC(), nil
}

// optTime reads null (nil) or a time as r.time does.
func (r *reader) optTime() (*time.Time, error) {
	if r.null() {
		return nil, nil
	}
	t, err := r.time()
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// optFloat64 reads null (nil) or a number.
func (r *reader) optFloat64() (*float64, error) {
	if r.null() {
		return nil, nil
	}
	f, err := r.float64()
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// optInt64 reads null (nil) or an integer.
func (r *reader) optInt64() (*int64, error) {
	if r.null() {
		return nil, nil
	}
	v, err := r.int64()
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// bytes reads null (nil) or a standard base64 string (with padding) into a
// new, non-nil slice, as encoding/json does for []byte.
func (r *reader) bytes() ([]byte, error) {
	if r.null() {
		return nil, nil
	}
	if err := r.expectString("a base64 string or null"); err != nil {
		return nil, err
	}
	b, _, err := r.strBytes()
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		return nil, r.fail("must be standard base64 with padding: " + err.Error())
	}
	return out[:n], nil
}

// strings reads null or an array of strings; an empty array gives nil. On
// error it reports the index at fault in *at (-1 when the array itself is).
func (r *reader) strings(at *int) ([]string, error) {
	*at = -1
	if r.null() {
		return nil, nil
	}
	r.skipWS()
	if r.pos >= len(r.data) || r.data[r.pos] != '[' {
		return nil, r.typeError("an array of strings")
	}
	r.pos++
	var out []string
	if r.pos < len(r.data) && r.data[r.pos] != ']' {
		out = make([]string, 0, 4) // a coinbase pays to a few addresses: one allocation
	}
	for i := 0; ; i++ {
		r.skipWS()
		if r.pos >= len(r.data) {
			return nil, r.failAt("")
		}
		if r.data[r.pos] == ']' {
			r.pos++
			return out, nil
		}
		if i > 0 {
			if r.data[r.pos] != ',' {
				return nil, r.failAt("expected ',' or ']' in array")
			}
			r.pos++
		}
		*at = i
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		*at = -1
		out = append(out, s)
	}
}

// skipValue skips one JSON value of any type, checking its syntax.
func (r *reader) skipValue(depth int) error {
	if depth > maxDepth {
		return r.fail("invalid JSON: nested deeper than " + strconv.Itoa(maxDepth))
	}
	r.skipWS()
	if r.pos >= len(r.data) {
		return r.failAt("")
	}
	switch c := r.data[r.pos]; {
	case c == '"':
		_, _, err := r.strBytes()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := r.number()
		return err
	case c == 't' || c == 'f':
		_, err := r.bool()
		return err
	case c == 'n':
		if !r.null() {
			return r.failAt("expected a value")
		}
		return nil
	case c == '{':
		r.pos++
		for first := true; ; first = false {
			_, ok, err := r.nextKey(first, "")
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			if err := r.skipValue(depth + 1); err != nil {
				return err
			}
		}
	case c == '[':
		r.pos++
		for i := 0; ; i++ {
			r.skipWS()
			if r.pos >= len(r.data) {
				return r.failAt("")
			}
			if r.data[r.pos] == ']' {
				r.pos++
				return nil
			}
			if i > 0 {
				if r.data[r.pos] != ',' {
					return r.failAt("expected ',' or ']' in array")
				}
				r.pos++
			}
			if err := r.skipValue(depth + 1); err != nil {
				return err
			}
		}
	default:
		return r.failAt("expected a value")
	}
}

// findSchema returns the value of the top-level "schema" member without
// decoding the rest. The encoder writes schema first, so the common case
// reads only the first member; otherwise the object is scanned.
// The result aliases data unless the name contained escapes.
func findSchema(data []byte) ([]byte, error) {
	r := reader{data: data}
	if err := r.openObject(); err != nil {
		return nil, err
	}
	for first := true; ; first = false {
		key, ok, err := r.nextKey(first, "schema") // the encoder writes it first
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &DecodeError{Field: "schema", Reason: "missing: every message names its schema, e.g. \"schema\":\"" + SchemaBlock + "\""}
		}
		if string(key) == "schema" {
			b, _, err := r.strBytes()
			if err != nil {
				return nil, atField(err, "schema")
			}
			return b, nil
		}
		if err := r.skipValue(1); err != nil {
			return nil, err
		}
	}
}
