package schemas

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// goldenBoundedDeadLetter is goldenDeadLetter as written since dead letters are bounded: the
// same record (a block whose height was sent as a string), kept whole, with its sizes and the
// SHA-256 of its value.
func goldenBoundedDeadLetter() *DeadLetter {
	d := goldenDeadLetter()
	d.KeySize = 6
	d.ValueSize = 49
	d.ValueSHA256 = "45f09f5eded08986e420e4f61848428378d2626c2e559f569dbeaaaa6da80c0f"
	return d
}

// truncatedRecordValue is the value of the record in dead_letter_truncated.json: a block of
// 6,000 bytes that lacks its required fields (anything larger than MaxDeadLetterValueBytes
// would do; a real one was 920 KB).
func truncatedRecordValue() []byte {
	v := []byte(`{"schema":"hashatlas.block.v1","height":840000,"coinbase_ascii":"`)
	v = append(v, strings.Repeat("x", 6000-len(v)-2)...)
	return append(v, `"}`...)
}

// goldenTruncatedDeadLetter is the bounded dead letter of a record whose key and value are both
// longer than a dead letter keeps.
func goldenTruncatedDeadLetter() *DeadLetter {
	key := []byte(strings.Repeat("k", 1500))
	d := NewDeadLetter(TopicBlocks, 3, 1235, key, truncatedRecordValue(), StageDecode,
		`decode hashatlas.block.v1: field hash: is missing`)
	d.Schema = SchemaDeadLetter
	d.FailedAt = utc("2024-04-20T00:11:00Z")
	d.ConsumerGroup = "hashatlas-estimator"
	return &d
}

// TestBoundedDeadLetterGoldenFiles pins the bounded form on the wire as TestGoldenFiles pins
// the others (go test -update rewrites the files): Encode writes exactly the bytes in testdata,
// Decode reads them back to the value, and encoding/json writes and strictly reads the same.
// dead_letter.json itself is a letter as written before dead letters were bounded.
func TestBoundedDeadLetterGoldenFiles(t *testing.T) {
	for _, g := range []struct {
		file string
		msg  *DeadLetter
	}{
		{"dead_letter_bounded.json", goldenBoundedDeadLetter()},
		{"dead_letter_truncated.json", goldenTruncatedDeadLetter()},
	} {
		t.Run(g.file, func(t *testing.T) {
			path := filepath.Join("testdata", g.file)
			got, err := Encode(g.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode differs from %s:\n got: %s\nwant: %s", path, got, want)
			}
			m, err := DecodeAs[*DeadLetter](want)
			if err != nil {
				t.Fatalf("Decode(%s): %v", path, err)
			}
			if !reflect.DeepEqual(m, g.msg) {
				t.Errorf("Decode(%s) =\n%#v\nwant\n%#v", path, m, g.msg)
			}
			if theirs := mustMarshal(t, g.msg); !bytes.Equal(theirs, want) {
				t.Errorf("json.Marshal differs from %s:\n got: %s\nwant: %s", path, theirs, want)
			}
			var v DeadLetter
			dec := json.NewDecoder(bytes.NewReader(want))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v); err != nil || !reflect.DeepEqual(&v, g.msg) {
				t.Errorf("encoding/json read %s as %#v (err %v)", path, v, err)
			}
		})
	}
	// The truncated letter holds what the package documents, and its digest is the one of the
	// whole 6,000-byte value, which is nowhere in the letter.
	d := goldenTruncatedDeadLetter()
	sum := sha256.Sum256(truncatedRecordValue())
	if d.ValueSHA256 != hex.EncodeToString(sum[:]) || d.ValueSize != 6000 || !d.ValueTruncated ||
		!bytes.Equal(d.OriginalValue, truncatedRecordValue()[:MaxDeadLetterValueBytes]) {
		t.Errorf("truncated value: size %d, sha %s, truncated %v, %d bytes kept", d.ValueSize, d.ValueSHA256, d.ValueTruncated, len(d.OriginalValue))
	}
	if d.KeySize != 1500 || !d.KeyTruncated || len(d.OriginalKey) != MaxDeadLetterKeyBytes {
		t.Errorf("truncated key: size %d, truncated %v, %d bytes kept", d.KeySize, d.KeyTruncated, len(d.OriginalKey))
	}
}

// TestDeadLettersFromBeforeTheBoundsStillDecode proves the format change is backward readable:
// a letter without key_size, value_size, value_sha256 and the flags (dead_letter.json, as the
// consumer wrote them before) decodes, with those fields zero, re-encodes to the same bytes,
// and is not held to the bounds, so that one carrying a whole large value still decodes.
func TestDeadLettersFromBeforeTheBoundsStillDecode(t *testing.T) {
	old := []byte(readGolden(t, "dead_letter.json"))
	for _, name := range []string{"key_size", "value_size", "value_sha256", "truncated"} {
		if bytes.Contains(old, []byte(name)) {
			t.Fatalf("dead_letter.json has %s: it must stay a letter of the old form", name)
		}
	}
	d, err := DecodeAs[*DeadLetter](old)
	if err != nil {
		t.Fatalf("an old dead letter does not decode: %v", err)
	}
	if !reflect.DeepEqual(d, goldenDeadLetter()) {
		t.Errorf("old dead letter decoded as %#v", d)
	}
	if again, err := Encode(d); err != nil || !bytes.Equal(again, old) {
		t.Errorf("old dead letter re-encodes as %s (%v), want the bytes it was read from", again, err)
	}

	// The largest value the old writer could send (its base64 just under 1 MiB), and a reason
	// longer than a bounded letter's.
	big := goldenDeadLetter()
	big.OriginalValue = bytes.Repeat([]byte{0xfe}, 750<<10)
	big.Reason = strings.Repeat("r", 3*MaxDeadLetterReasonBytes)
	data := mustMarshal(t, big) // as encoding/json, or the old Encode, wrote it
	back, err := DecodeAs[*DeadLetter](data)
	if err != nil {
		t.Fatalf("an old dead letter with a %d-byte value does not decode: %v", len(big.OriginalValue), err)
	}
	if !bytes.Equal(back.OriginalValue, big.OriginalValue) || back.Reason != big.Reason {
		t.Errorf("old dead letter lost its value or reason")
	}

	// Bounded re-records an old letter in the bounded form, from the whole value it holds.
	b := goldenDeadLetter().Bounded()
	if !reflect.DeepEqual(&b, goldenBoundedDeadLetter()) {
		t.Errorf("Bounded of the old golden letter = %#v, want %#v", b, goldenBoundedDeadLetter())
	}
}

// TestNewDeadLetterKeepsTheStartAndRecordsSizesAndDigest proves what NewDeadLetter and Bounded
// keep of records small and large, and that each result is valid, round-trips and stays
// bounded when bounded again.
func TestNewDeadLetterKeepsTheStartAndRecordsSizesAndDigest(t *testing.T) {
	value920K := make([]byte, 920<<10)
	for i := range value920K {
		value920K[i] = byte(i * 7)
	}
	longReason := "decode: " + strings.Repeat("é", MaxDeadLetterReasonBytes) // 2-byte runes: the cut falls inside one
	tests := []struct {
		name              string
		key, value        []byte
		reason            string
		wantKey, wantVal  int
		keyCut, valueCut  bool
		wantReasonCut     bool
		wantReasonInvalid bool
	}{
		{"a small record is kept whole", []byte("840000"), []byte(`{"height":"x"}`), "bad", 6, 14, false, false, false, false},
		{"a tombstone without key", nil, nil, "tombstone", 0, 0, false, false, false, false},
		{"an empty key and value", []byte{}, []byte{}, "empty", 0, 0, false, false, false, false},
		{"a value of exactly the limit is whole", []byte("k"), value920K[:MaxDeadLetterValueBytes], "r", 1, MaxDeadLetterValueBytes, false, false, false, false},
		{"a value one byte over the limit is cut", []byte("k"), value920K[:MaxDeadLetterValueBytes+1], "r", 1, MaxDeadLetterValueBytes, false, true, false, false},
		{"a 920 KB value, a long key and reason are cut", bytes.Repeat([]byte("K"), 5000), value920K, longReason,
			MaxDeadLetterKeyBytes, MaxDeadLetterValueBytes, true, true, true, false},
		{"invalid UTF-8 in the reason becomes U+FFFD", nil, []byte("x"), "bad \xff\xfe byte", 0, 1, false, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDeadLetter(TopicGrid, 1, 99, tt.key, tt.value, StageDecode, tt.reason)
			d.FailedAt = utc("2024-04-20T00:11:00Z")
			if err := d.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			sum := sha256.Sum256(tt.value)
			if d.ValueSHA256 != hex.EncodeToString(sum[:]) || d.ValueSize != int64(len(tt.value)) || d.KeySize != int64(len(tt.key)) {
				t.Errorf("sizes %d/%d and digest %s, want %d/%d and %x", d.KeySize, d.ValueSize, d.ValueSHA256, len(tt.key), len(tt.value), sum)
			}
			if len(d.OriginalKey) != tt.wantKey || !bytes.Equal(d.OriginalKey, tt.key[:tt.wantKey]) || d.KeyTruncated != tt.keyCut {
				t.Errorf("key: kept %d bytes (truncated %v), want the first %d (%v)", len(d.OriginalKey), d.KeyTruncated, tt.wantKey, tt.keyCut)
			}
			if len(d.OriginalValue) != tt.wantVal || !bytes.Equal(d.OriginalValue, tt.value[:tt.wantVal]) || d.ValueTruncated != tt.valueCut {
				t.Errorf("value: kept %d bytes (truncated %v), want the first %d (%v)", len(d.OriginalValue), d.ValueTruncated, tt.wantVal, tt.valueCut)
			}
			if (tt.key == nil) != (d.OriginalKey == nil) || (tt.value == nil) != (d.OriginalValue == nil) {
				t.Errorf("nil key or value (a record without key, a tombstone) not kept as nil")
			}
			switch {
			case tt.wantReasonCut:
				if !strings.HasSuffix(d.Reason, "…") || len(d.Reason) > MaxDeadLetterReasonBytes || len(d.Reason) < MaxDeadLetterReasonBytes-4 ||
					!strings.HasPrefix(tt.reason, strings.TrimSuffix(d.Reason, "…")) || !utf8.ValidString(d.Reason) {
					t.Errorf("reason cut to %d bytes %q…, want a valid prefix of at most %d ending in …", len(d.Reason), d.Reason[:20], MaxDeadLetterReasonBytes)
				}
			case tt.wantReasonInvalid:
				if want := "bad \uFFFD\uFFFD byte"; d.Reason != want {
					t.Errorf("reason %q, want %q", d.Reason, want)
				}
			default:
				if d.Reason != tt.reason {
					t.Errorf("reason %q, want it unchanged %q", d.Reason, tt.reason)
				}
			}
			data, err := Encode(&d)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > MaxDeadLetterBytes {
				t.Errorf("encoded to %d bytes, more than MaxDeadLetterBytes %d", len(data), MaxDeadLetterBytes)
			}
			back, err := DecodeAs[*DeadLetter](data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			d.Schema = SchemaDeadLetter
			if !reflect.DeepEqual(back, &d) {
				t.Errorf("round trip:\n got %#v\nwant %#v", back, &d)
			}
			if again := d.Bounded(); !reflect.DeepEqual(again, d) {
				t.Errorf("Bounded of a bounded letter changed it")
			}
		})
	}
}

// TestDeadLetterWorstCaseEncodesUnderTheBound proves that no bounded dead letter can come near
// the broker's limit: every field at its longest, with the characters that escape the longest
// (6 bytes for a control character, '<', '>', '&', U+2028 or an invalid byte), encodes under
// MaxDeadLetterBytes (16 KiB), which with the record's key and the batch's framing is 1/64 of
// Kafka's default message.max.bytes.
func TestDeadLetterWorstCaseEncodesUnderTheBound(t *testing.T) {
	const brokerDefaultMaxMessageBytes = 1048588 // Kafka's and kfake's message.max.bytes
	topic := strings.Repeat("t", 249)
	group := strings.Repeat("<", MaxNameLen) // printable, no space or '|': valid, and \u003c in JSON
	worst := 0
	for _, c := range []string{"\x00", "<", "\u2028", "\xff", "\"", "é"} {
		reason := strings.Repeat(c, 2*MaxDeadLetterReasonBytes) // cut by NewDeadLetter
		key := bytes.Repeat([]byte{0xff}, 10*MaxDeadLetterKeyBytes)
		value := bytes.Repeat([]byte{0xff}, 10<<20)
		d := NewDeadLetter(topic, math.MaxInt32, math.MaxInt64, key, value, StageValidate, reason)
		d.FailedAt = utc("2024-04-20T00:11:00.123456789Z")
		d.ConsumerGroup = group
		// Sizes at their largest too (a letter may claim any size).
		d.KeySize, d.ValueSize = math.MaxInt64, math.MaxInt64
		data, err := Encode(&d)
		if err != nil {
			t.Fatalf("reason of %q: %v", c, err)
		}
		if len(data) > MaxDeadLetterBytes {
			t.Errorf("reason of %q: the worst-case dead letter encodes to %d bytes, more than MaxDeadLetterBytes %d", c, len(data), MaxDeadLetterBytes)
		}
		// The Kafka record adds the key (topic|partition|offset, at most 249+1+10+1+19 bytes)
		// and framing (a batch header of 61 bytes and at most about 30 per record).
		if framed := len(data) + len(d.Key()) + 128; framed*64 > brokerDefaultMaxMessageBytes {
			t.Errorf("reason of %q: a record of %d bytes is not well below the broker's %d", c, framed, brokerDefaultMaxMessageBytes)
		}
		worst = max(worst, len(data))
	}
	t.Logf("worst-case dead letter: %d bytes (bound %d)", worst, MaxDeadLetterBytes)
}

// TestValidateRejectsInconsistentBoundedDeadLetters proves the rules of the bounded form: the
// digest, sizes and flags agree with what the letter holds, key and value are within their
// bounds, and the reason is valid UTF-8 within its bound; the new fields need value_sha256.
func TestValidateRejectsInconsistentBoundedDeadLetters(t *testing.T) {
	bounded := func(f func(*DeadLetter)) *DeadLetter { d := goldenBoundedDeadLetter(); f(d); return d }
	truncated := func(f func(*DeadLetter)) *DeadLetter { d := goldenTruncatedDeadLetter(); f(d); return d }
	tests := []struct {
		name string
		msg  *DeadLetter
		want []string
	}{
		{"an upper-case digest", bounded(func(d *DeadLetter) { d.ValueSHA256 = strings.ToUpper(d.ValueSHA256) }), []string{"value_sha256"}},
		{"a short digest", bounded(func(d *DeadLetter) { d.ValueSHA256 = "45f09f" }), []string{"value_sha256"}},
		{"a digest that is not the whole value's", bounded(func(d *DeadLetter) { d.OriginalValue = []byte(`{"schema":"hashatlas.block.v1","height":"840001"}`) }), []string{"value_sha256"}},
		{"a value size below the bytes held", bounded(func(d *DeadLetter) { d.ValueSize = 10 }), []string{"value"}},
		{"a value size above the bytes held without the flag", bounded(func(d *DeadLetter) { d.ValueSize = 5000 }), []string{"value"}},
		{"a negative value size", bounded(func(d *DeadLetter) { d.ValueSize = -1 }), []string{"value"}},
		{"a whole value over the bound", bounded(func(d *DeadLetter) {
			d.OriginalValue = make([]byte, MaxDeadLetterValueBytes+1)
			d.ValueSize = int64(len(d.OriginalValue))
			sum := sha256.Sum256(d.OriginalValue)
			d.ValueSHA256 = hex.EncodeToString(sum[:])
		}), []string{"value"}},
		{"a truncated value shorter than the bound", truncated(func(d *DeadLetter) { d.OriginalValue = d.OriginalValue[:100] }), []string{"value"}},
		{"a truncated flag on a whole value", bounded(func(d *DeadLetter) { d.ValueTruncated = true }), []string{"value"}},
		{"a truncated key longer than the bound", truncated(func(d *DeadLetter) { d.OriginalKey = append(d.OriginalKey, 'k') }), []string{"key"}},
		{"a key size that is not the key's", bounded(func(d *DeadLetter) { d.KeySize = 7 }), []string{"key"}},
		{"a key without its size", bounded(func(d *DeadLetter) { d.KeySize = 0 }), []string{"key"}},
		{"a reason over the bound", bounded(func(d *DeadLetter) { d.Reason = strings.Repeat("r", MaxDeadLetterReasonBytes+1) }), []string{"reason"}},
		{"a reason with invalid UTF-8", bounded(func(d *DeadLetter) { d.Reason = "bad \xff" }), []string{"reason"}},
		{"sizes and flags without a digest", deadLetterWith(func(d *DeadLetter) { d.KeySize, d.ValueTruncated = 6, true }), []string{"key_size", "value_truncated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldsOf(t, tt.msg.Validate())
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate() fields = %q, want %q (%v)", got, tt.want, tt.msg.Validate())
			}
			if _, err := Encode(tt.msg); err == nil {
				t.Errorf("Encode accepted it")
			}
		})
	}
	// Decode holds the letter to the same rules.
	data := bytes.Replace([]byte(readGolden(t, "dead_letter_bounded.json")), []byte(`"value_size":49`), []byte(`"value_size":50`), 1)
	if _, err := Decode(data); err == nil || !strings.Contains(err.Error(), "field value:") {
		t.Errorf("Decode of a letter whose value_size is not its value's: %v, want an error on field value", err)
	}
}

// TestCutReasonCutsAtACharacterBoundary proves the reason bound at its edges.
func TestCutReasonCutsAtACharacterBoundary(t *testing.T) {
	exact := strings.Repeat("a", MaxDeadLetterReasonBytes)
	if got := cutReason(exact); got != exact {
		t.Errorf("a reason of exactly the bound was changed to %d bytes", len(got))
	}
	for _, s := range []string{
		exact + "b",
		strings.Repeat("a", MaxDeadLetterReasonBytes-4) + "😀😀", // the cut falls inside a 4-byte rune
		strings.Repeat("\xff", MaxDeadLetterReasonBytes),       // fits, but each byte becomes 3 of U+FFFD
	} {
		got := cutReason(s)
		if len(got) > MaxDeadLetterReasonBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
			t.Errorf("cutReason of %d bytes gave %d bytes, valid %v, want at most %d valid ending in …", len(s), len(got), utf8.ValidString(got), MaxDeadLetterReasonBytes)
		}
	}
}
