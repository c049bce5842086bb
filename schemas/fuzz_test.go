package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to Decode, seeded with the golden files
// and a few hand-written variants. It proves that Decode never panics, that
// every failure is a one-line *DecodeError, and that whatever decodes:
//   - re-encodes, and decodes again to an equal value, with identical bytes
//     on the second encoding (Encode is deterministic);
//   - is read by encoding/json (strict, DisallowUnknownFields) to the same
//     value, so the hand-written reader is never more lenient than the
//     standard one;
//   - is written by json.Marshal exactly as Encode writes it.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"source":"eia","unit":"MWh","value":4.12345e4,"metric":"dem\u0061nd","interval_seconds":3600,` +
		`"time":"2024-04-20T05:00:00.000+00:00","country":"US","region":"ERCO","schema":"hashatlas.grid.v1"}`))
	f.Add([]byte(`{"schema":"hashatlas.pool-stats.v1","pool":"foundryusa","time":"2024-04-20T00:00:00Z",` +
		`"interval_seconds":86400,"hashrate_hs":null,"blocks":0,"source":"mempool"}`))
	f.Add([]byte(`{"schema":"hashatlas.dead-letter.v1","topic":"t","partition":0,"offset":0,"key":null,"value":"",` +
		`"reason":"\ud83d\ude00 \"x\"","stage":"process","failed_at":"2024-04-20T00:11:00.5Z","consumer_group":""}`))
	f.Add([]byte(`{"schema":"hashatlas.block.v1","height":0,"hash":"","prev_hash":"","time":"2009-01-03T18:15:05Z",` +
		`"bits":"1d00ffff","difficulty":1,"work":"4295032833","tx_count":0,"coinbase_script_hex":"","coinbase_ascii":"",` +
		`"coinbase_addresses":null,"pool":"unknown","pool_registry_version":"","attribution_method":"file","source":"file",` +
		`"observed_at":"2024-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"x":[{"y":[true,false,null,-0.5e-3]}],"schema":"hashatlas.estimate.v1"}`))
	f.Add([]byte(`{"schema":"hashatlas.grid.v1","a\nb":1}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error %v is %T, want *DecodeError", err, err)
			}
			if m != nil {
				t.Fatalf("Decode returned %#v with error %v", m, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("Decode error is not one line: %q", err.Error())
			}
			return
		}

		enc, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v\ninput: %q", err, data)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\nencoded: %s", err, enc)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\nfirst:  %#v\nsecond: %#v", m, m2)
		}
		enc2, err := Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("second encoding differs: %s\nfirst: %s", enc2, enc)
		}
		if m.Key() != m2.Key() {
			t.Fatalf("key changed in round trip: %q vs %q", m.Key(), m2.Key())
		}

		// encoding/json must read the input to the same value.
		ref := reflect.New(reflect.TypeOf(m).Elem())
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(ref.Interface()); err != nil {
			t.Fatalf("Decode accepted input that encoding/json rejects (%v): %q", err, data)
		}
		normalizeRef(ref.Elem())
		if !reflect.DeepEqual(ref.Interface(), m) {
			t.Fatalf("encoding/json read a different value:\n ours: %#v\n json: %#v", m, ref.Interface())
		}

		// json.Marshal must write what Encode writes (it writes nil lists as
		// null where Encode writes [], so give it empty lists).
		cp := reflect.New(reflect.TypeOf(m).Elem())
		cp.Elem().Set(reflect.ValueOf(m).Elem())
		emptyLists(cp.Elem())
		if theirs := mustMarshal(t, cp.Interface()); !bytes.Equal(enc, theirs) {
			t.Fatalf("Encode and json.Marshal differ:\n  ours: %s\ntheirs: %s", enc, theirs)
		}
	})
}

var timeType = reflect.TypeFor[time.Time]()

// normalizeRef brings a value read by encoding/json to the form Decode
// returns: times in time.UTC and empty string lists as nil.
func normalizeRef(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch {
		case f.Type() == timeType:
			f.Set(reflect.ValueOf(f.Interface().(time.Time).UTC()))
		case f.Kind() == reflect.Pointer && f.Type().Elem() == timeType && !f.IsNil():
			u := f.Elem().Interface().(time.Time).UTC()
			f.Set(reflect.ValueOf(&u))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String && f.Len() == 0:
			f.Set(reflect.Zero(f.Type()))
		}
	}
}

// emptyLists replaces nil string lists with empty ones.
func emptyLists(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String && f.IsNil() {
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		}
	}
}
