package schemas

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecode measures Decode (find schema, strict decode, validate) per
// message type on the golden files. Decode sits on the replay hot path: the
// pipeline target is 300,000 messages/s through the broker, encode and
// decode included.
func BenchmarkDecode(b *testing.B) {
	for _, g := range goldens() {
		data, err := os.ReadFile(filepath.Join("testdata", g.file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(g.file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode measures Encode (validate, write JSON) per message type.
func BenchmarkEncode(b *testing.B) {
	for _, g := range goldens() {
		data, err := Encode(g.msg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(g.file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Encode(g.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeEncodingJSON is the baseline the hand-written codec is
// measured against: a strict encoding/json decode into the same type plus
// Validate, which is what Decode would cost if built on reflection.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	for _, g := range goldens() {
		data, err := os.ReadFile(filepath.Join("testdata", g.file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(g.file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				m := g.new()
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(m); err != nil {
					b.Fatal(err)
				}
				if err := m.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
