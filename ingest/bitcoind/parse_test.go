package bitcoind

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixtureResult returns the result member of a recorded-format response in testdata/.
func fixtureResult(t testing.TB, name string) json.RawMessage {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r.Result
}

// goldenBlock is ChainBlock as the golden files show it: the script in hex, the time in RFC 3339.
type goldenBlock struct {
	Height            int64    `json:"height"`
	Hash              string   `json:"hash"`
	PrevHash          string   `json:"prev_hash"`
	Time              string   `json:"time"`
	Bits              string   `json:"bits"`
	TxCount           int64    `json:"tx_count"`
	CoinbaseScriptHex string   `json:"coinbase_script_hex"`
	CoinbaseAddresses []string `json:"coinbase_addresses"`
}

func golden(b ingest.ChainBlock) []byte {
	out, _ := json.MarshalIndent(goldenBlock{
		Height: b.Height, Hash: b.Hash, PrevHash: b.PrevHash, Time: b.Time.Format(time.RFC3339), Bits: b.Bits,
		TxCount: b.TxCount, CoinbaseScriptHex: hex.EncodeToString(b.CoinbaseScript), CoinbaseAddresses: b.CoinbaseAddresses,
	}, "", "  ")
	return append(out, '\n')
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestParseBlockMatchesGoldenFiles(t *testing.T) {
	for _, tc := range []struct {
		fixture, golden string
		height          int64
	}{
		// Core 22+: scriptPubKey.address; two OP_RETURN outputs without one.
		{"getblock_900123.json", "getblock_900123.golden.json", 900123},
		// Core before 22: scriptPubKey.addresses arrays.
		{"getblock_600123_addresses.json", "getblock_600123_addresses.golden.json", 600123},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			b, err := parseBlock(fixtureResult(t, tc.fixture), tc.height)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, golden(b))
		})
	}
}

func TestParseBlockReadsBothAddressForms(t *testing.T) {
	modern, err := parseBlock(fixtureResult(t, "getblock_900123.json"), 900123)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bc1qa2waq5uuv9qk646xjz2jnwp2xqhg4qevpyd43k"}; !equal(modern.CoinbaseAddresses, want) {
		t.Errorf("Core 22+ addresses %v, want %v (OP_RETURN outputs left out)", modern.CoinbaseAddresses, want)
	}
	legacy, err := parseBlock(fixtureResult(t, "getblock_600123_addresses.json"), 600123)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1G3vyN2eB8kYxsNmRf4rcnd26WFAeeidtS"}; !equal(legacy.CoinbaseAddresses, want) {
		t.Errorf("pre-22 addresses %v, want %v", legacy.CoinbaseAddresses, want)
	}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// mutated returns the 900123 fixture's getblock result changed by edit.
func mutated(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixtureResult(t, "getblock_900123.json"), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func coinbaseVin(m map[string]any) map[string]any {
	return m["tx"].([]any)[0].(map[string]any)["vin"].([]any)[0].(map[string]any)
}

func coinbaseVout(m map[string]any, i int) map[string]any {
	return m["tx"].([]any)[0].(map[string]any)["vout"].([]any)[i].(map[string]any)["scriptPubKey"].(map[string]any)
}

func TestParseBlockRefusesWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name   string
		height int64
		edit   func(m map[string]any)
		want   string
	}{
		{"a block at another height than asked for is refused", 900124, func(map[string]any) {}, "height 900123 in the response, want 900124"},
		{"a missing height is refused", 900123, func(m map[string]any) { delete(m, "height") }, "height is missing"},
		{"a hash of 63 characters is refused", 900123, func(m map[string]any) { m["hash"] = m["hash"].(string)[1:] }, "hash"},
		{"a hash with a non-hex character is refused", 900123, func(m map[string]any) { m["hash"] = "g" + m["hash"].(string)[1:] }, "hash"},
		{"bits of 6 characters are refused", 900123, func(m map[string]any) { m["bits"] = "023a04" }, `bits "023a04"`},
		{"non-hex bits are refused", 900123, func(m map[string]any) { m["bits"] = "1702zz04" }, "bits"},
		{"a missing time is refused", 900123, func(m map[string]any) { delete(m, "time") }, "time is missing"},
		{"a zero time is refused", 900123, func(m map[string]any) { m["time"] = 0 }, "time 0"},
		{"a missing nTx is refused", 900123, func(m map[string]any) { delete(m, "nTx") }, "nTx is missing"},
		{"more transactions than nTx are refused", 900123, func(m map[string]any) { m["nTx"] = 1 }, "2 transactions listed but nTx is 1"},
		{"a missing previous hash above height 0 is refused", 900123, func(m map[string]any) { delete(m, "previousblockhash") }, "previous hash"},
		{"an empty transaction list is refused", 900123, func(m map[string]any) { m["tx"] = []any{} }, "no coinbase"},
		{"a first transaction without coinbase input is refused", 900123, func(m map[string]any) {
			delete(coinbaseVin(m), "coinbase")
		}, "tx[0].vin[0].coinbase is missing"},
		{"a coinbase that is not hex is refused", 900123, func(m map[string]any) { coinbaseVin(m)["coinbase"] = "03zz" }, "not hex"},
		{"a 1-byte coinbase is refused (consensus: 2 to 100)", 900123, func(m map[string]any) { coinbaseVin(m)["coinbase"] = "03" }, "1 bytes"},
		{"a 101-byte coinbase is refused", 900123, func(m map[string]any) { coinbaseVin(m)["coinbase"] = strings.Repeat("ab", 101) }, "101 bytes"},
		{"an address with a space is refused", 900123, func(m map[string]any) { coinbaseVout(m, 0)["address"] = "bc1q not an address" }, "is not an address"},
		{"a block that left the best chain during the call is refused", 900123, func(m map[string]any) { m["confirmations"] = -1 }, "no longer in the best chain"},
		{"a verbosity-1 result (txids only) is refused", 900123, func(m map[string]any) { m["tx"] = []any{"11fbc1b3"} }, "getblock result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseBlock(mutated(t, tc.edit), tc.height)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseBlockAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		height int64
		edit   func(m map[string]any)
		check  func(t *testing.T, b ingest.ChainBlock)
	}{
		{"the genesis block has no previous hash", 0, func(m map[string]any) {
			m["height"] = 0
			delete(m, "previousblockhash")
		}, func(t *testing.T, b ingest.ChainBlock) {
			if b.PrevHash != "" {
				t.Errorf("PrevHash %q", b.PrevHash)
			}
		}},
		{"upper-case hex is returned in lower case", 900123, func(m map[string]any) {
			m["hash"] = strings.ToUpper(m["hash"].(string))
			m["bits"] = "17023A04"
		}, func(t *testing.T, b ingest.ChainBlock) {
			if b.Hash != "00000000000000000000eee624774c52ce5cc0da8427b1f97620ed2739e9f0ad" || b.Bits != "17023a04" {
				t.Errorf("hash %s bits %s", b.Hash, b.Bits)
			}
		}},
		{"a bare-multisig output listing two addresses (Core before 22) gives none", 900123, func(m map[string]any) {
			spk := coinbaseVout(m, 0)
			delete(spk, "address")
			spk["addresses"] = []any{"1G3vyN2eB8kYxsNmRf4rcnd26WFAeeidtS", "3HJj4MGQLAbP2Z97pUQpKHZUTTJrLXovGn"}
		}, func(t *testing.T, b ingest.ChainBlock) {
			if len(b.CoinbaseAddresses) != 0 {
				t.Errorf("addresses %v, want none", b.CoinbaseAddresses)
			}
		}},
		{"the header time is UTC", 900123, func(map[string]any) {}, func(t *testing.T, b ingest.ChainBlock) {
			if b.Time.Location() != time.UTC || b.Time.Unix() != 1747650321 {
				t.Errorf("time %v", b.Time)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := parseBlock(mutated(t, tc.edit), tc.height)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
}

func TestParseBlockNamesTruncation(t *testing.T) {
	res := fixtureResult(t, "getblock_900123.json")
	_, err := parseBlock(res[:len(res)/2], 900123)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v, want it to say the result is truncated", err)
	}
}

func TestDecodeResponse(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		id         uint64
		want       string // result, or the error's text
		rpcCode    int
	}{
		{"a 1.0 result with a null error", `{"result":123,"error":null,"id":7}`, 7, "123", 0},
		{"a 2.0 result without an error member", `{"jsonrpc":"2.0","result":"ab","id":7}`, 7, `"ab"`, 0},
		{"an error object becomes an RPCError", `{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":7}`, 7, "RPC error -8: Block height out of range", -8},
		{"an error is reported even when the id is null", `{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}`, 7, "RPC error -32700", -32700},
		{"another request's id is refused", `{"result":1,"error":null,"id":8}`, 7, "id 8, want 7", 0},
		{"a missing id is refused", `{"result":1,"error":null}`, 7, "id (absent), want 7", 0},
		{"a null result without error is refused", `{"result":null,"error":null,"id":7}`, 7, "neither a result nor an error", 0},
		{"a string error member is refused", `{"result":null,"error":"Method not found.","id":7}`, 7, "not an object with code and message", 0},
		{"a truncated body says so", `{"result":{"blocks":9001`, 7, "truncated", 0},
		{"an HTML page is malformed JSON", `<html>502 Bad Gateway</html>`, 7, "malformed JSON at byte 1", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := decodeResponse([]byte(tc.body), tc.id)
			var got string
			if err != nil {
				got = err.Error()
			} else {
				got = string(res)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
			var re *RPCError
			if tc.rpcCode != 0 && (!errors.As(err, &re) || re.Code != tc.rpcCode) {
				t.Errorf("err = %v, want an RPCError with code %d", err, tc.rpcCode)
			}
		})
	}
}

func TestParseBlockchainInfo(t *testing.T) {
	info, err := parseBlockchainInfo(fixtureResult(t, "getblockchaininfo.json"))
	if err != nil || info.Blocks != 900130 || info.Headers != 900130 || info.Chain != "main" || info.IBD {
		t.Fatalf("parseBlockchainInfo = %+v, %v", info, err)
	}
	for name, in := range map[string]string{
		"missing blocks":  `{"chain":"main","headers":5}`,
		"negative blocks": `{"chain":"main","blocks":-1}`,
		"blocks a string": `{"chain":"main","blocks":"5"}`,
		"not an object":   `[1]`,
	} {
		if _, err := parseBlockchainInfo([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseBlockHash(t *testing.T) {
	h, err := parseBlockHash(fixtureResult(t, "getblockhash_900123.json"))
	if err != nil || h != "00000000000000000000eee624774c52ce5cc0da8427b1f97620ed2739e9f0ad" {
		t.Fatalf("parseBlockHash = %q, %v", h, err)
	}
	for name, in := range map[string]string{
		"63 characters": `"0000000000000000000eee624774c52ce5cc0da8427b1f97620ed2739e9f0ad"`,
		"not hex":       `"x0000000000000000000eee624774c52ce5cc0da8427b1f97620ed2739e9f0ad"`,
		"a number":      `12`,
		"truncated":     `"00000000`,
	} {
		if _, err := parseBlockHash([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The fuzz targets check the parsers' promises with rules written independently of
// validateBlock: no panic, and anything accepted is well-formed.

var (
	hashRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
	bitsRe = regexp.MustCompile(`^[0-9a-f]{8}$`)
	addrRe = regexp.MustCompile(`^[0-9A-Za-z]{14,90}$`)
)

func checkAccepted(t *testing.T, b ingest.ChainBlock, height int64) {
	t.Helper()
	if height < 0 || b.Height != height {
		t.Fatalf("accepted height %d for requested %d", b.Height, height)
	}
	if !hashRe.MatchString(b.Hash) {
		t.Fatalf("accepted hash %q", b.Hash)
	}
	if (b.Height == 0) != (b.PrevHash == "") || (b.PrevHash != "" && !hashRe.MatchString(b.PrevHash)) {
		t.Fatalf("accepted previous hash %q at height %d", b.PrevHash, b.Height)
	}
	if !bitsRe.MatchString(b.Bits) {
		t.Fatalf("accepted bits %q", b.Bits)
	}
	if b.Time.Unix() <= 0 || b.Time.Location() != time.UTC {
		t.Fatalf("accepted time %v", b.Time)
	}
	if b.TxCount < 1 {
		t.Fatalf("accepted tx count %d", b.TxCount)
	}
	if n := len(b.CoinbaseScript); n < 2 || n > 100 {
		t.Fatalf("accepted a %d-byte coinbase", n)
	}
	for _, a := range b.CoinbaseAddresses {
		if !addrRe.MatchString(a) {
			t.Fatalf("accepted address %q", a)
		}
	}
}

func FuzzParseBlock(f *testing.F) {
	for _, name := range []string{"getblock_900123.json", "getblock_600123_addresses.json"} {
		res := fixtureResult(f, name)
		var h struct{ Height int64 }
		_ = json.Unmarshal(res, &h)
		f.Add([]byte(res), h.Height)
		f.Add([]byte(res[:len(res)*2/3]), h.Height)
	}
	f.Add([]byte(`{"hash":"00","height":0,"time":1,"bits":"1d00ffff","nTx":1,"tx":[{"vin":[{"coinbase":"0000"}]}]}`), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, height int64) {
		b, err := parseBlock(data, height)
		if err != nil {
			return
		}
		checkAccepted(t, b, height)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, name := range []string{"getblockchaininfo.json", "getblockhash_900123.json", "error_height_out_of_range.json", "getblock_900123.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, uint64(1))
	}
	f.Fuzz(func(t *testing.T, body []byte, id uint64) {
		res, err := decodeResponse(body, id)
		if err != nil {
			var re *RPCError
			if errors.As(err, &re) && re.Code == 0 && re.Message == "" {
				t.Fatalf("empty RPCError from %q", body)
			}
			return
		}
		if len(res) == 0 || ingest.IsJSONNull(res) || !json.Valid(res) {
			t.Fatalf("accepted result %q", res)
		}
	})
}

func FuzzParseBlockchainInfo(f *testing.F) {
	f.Add([]byte(fixtureResult(f, "getblockchaininfo.json")))
	f.Add([]byte(`{"blocks":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseBlockchainInfo(data)
		if err == nil && info.Blocks < 0 {
			t.Fatalf("accepted tip height %d", info.Blocks)
		}
	})
}

func FuzzParseBlockHash(f *testing.F) {
	f.Add([]byte(fixtureResult(f, "getblockhash_900123.json")))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseBlockHash(data)
		if err == nil && !hashRe.MatchString(h) {
			t.Fatalf("accepted hash %q", h)
		}
	})
}
