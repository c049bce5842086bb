package esplora

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
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const hash900123 = "00000000000000000000eee624774c52ce5cc0da8427b1f97620ed2739e9f0ad"

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

// parseFixtures parses the block 900123 fixtures as BlockAt does.
func parseFixtures(t *testing.T) ingest.ChainBlock {
	t.Helper()
	b, err := parseBlockList(ingesttest.Fixture(t, "blocks_900123.json"), 900123)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := parseBlockTxs(ingesttest.Fixture(t, "block_txs_900123.json"), b.Hash, 900123)
	if err != nil {
		t.Fatal(err)
	}
	b.CoinbaseScript, b.CoinbaseAddresses = cb.Script, cb.Addresses
	return b
}

func TestParsedFixturesMatchGoldenFile(t *testing.T) {
	checkGolden(t, "block_900123.golden.json", golden(parseFixtures(t)))
}

func TestBothSourcesParseBlock900123Alike(t *testing.T) {
	// The bitcoind fixtures describe the same block: the two sources must agree on it.
	other, err := os.ReadFile(filepath.Join("..", "bitcoind", "testdata", "getblock_900123.golden.json"))
	if err != nil {
		t.Skipf("bitcoind golden file: %v", err)
	}
	if got := golden(parseFixtures(t)); !bytes.Equal(got, other) {
		t.Errorf("esplora gives\n%s\nbitcoind gives\n%s", got, other)
	}
}

func TestParseBlockListConvertsNumericBitsToHex(t *testing.T) {
	b, err := parseBlockList([]byte(`[{"id":"`+hash900123+`","height":7,"timestamp":1231469665,"tx_count":1,`+
		`"previousblockhash":"`+hash900123+`","bits":486604799}]`), 7)
	if err != nil {
		t.Fatal(err)
	}
	if b.Bits != "1d00ffff" {
		t.Errorf("bits %q, want 1d00ffff (486604799)", b.Bits)
	}
}

// blockJSON is the first block of the 900123 list with edit applied, as a one-block list.
func blockJSON(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal(ingesttest.Fixture(t, "blocks_900123.json"), &list); err != nil {
		t.Fatal(err)
	}
	edit(list[0])
	out, err := json.Marshal(list[:1])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseBlockList(t *testing.T) {
	for _, tc := range []struct {
		name        string
		height      int64
		edit        func(m map[string]any)
		want        string // "" = accepted
		outOfRange  bool
		checkResult func(t *testing.T, b ingest.ChainBlock)
	}{
		{name: "the fixture is accepted", height: 900123, edit: func(map[string]any) {}},
		{name: "a list starting below the height asked for is out of range (mempool.space past its tip)", height: 900200,
			edit: func(map[string]any) {}, want: "starts at height 900123, below the 900200", outOfRange: true},
		{name: "a list starting above the height asked for is a wrong answer", height: 900122,
			edit: func(map[string]any) {}, want: "height 900123 in the response, want 900122"},
		{name: "a missing height is refused", height: 900123, edit: func(m map[string]any) { delete(m, "height") }, want: "height is missing"},
		{name: "a short id is refused", height: 900123, edit: func(m map[string]any) { m["id"] = "00ab" }, want: `id "00ab"`},
		{name: "a missing id is refused", height: 900123, edit: func(m map[string]any) { delete(m, "id") }, want: "id is missing"},
		{name: "a zero timestamp is refused", height: 900123, edit: func(m map[string]any) { m["timestamp"] = 0 }, want: "timestamp 0"},
		{name: "a zero tx_count is refused", height: 900123, edit: func(m map[string]any) { m["tx_count"] = 0 }, want: "tx_count 0"},
		{name: "hex bits (Core's form) are refused", height: 900123, edit: func(m map[string]any) { m["bits"] = "17023a04" }, want: `bits "17023a04" is not a number`},
		{name: "bits above 32 bits are refused", height: 900123, edit: func(m map[string]any) { m["bits"] = 4294967296 }, want: "is not a number from 0 to 2^32-1"},
		{name: "negative bits are refused", height: 900123, edit: func(m map[string]any) { m["bits"] = -1 }, want: "is not a number from 0 to 2^32-1"},
		{name: "missing bits are refused", height: 900123, edit: func(m map[string]any) { delete(m, "bits") }, want: "bits is missing"},
		{name: "a missing previous hash above height 0 is refused", height: 900123,
			edit: func(m map[string]any) { delete(m, "previousblockhash") }, want: "previousblockhash"},
		{name: "the genesis block has a null previous hash", height: 0, edit: func(m map[string]any) {
			m["height"] = 0
			m["previousblockhash"] = nil
		}, checkResult: func(t *testing.T, b ingest.ChainBlock) {
			if b.PrevHash != "" {
				t.Errorf("PrevHash %q", b.PrevHash)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := parseBlockList(blockJSON(t, tc.edit), tc.height)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.checkResult != nil {
					tc.checkResult(t, b)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if errors.Is(err, ErrHeightOutOfRange) != tc.outOfRange {
				t.Errorf("errors.Is(err, ErrHeightOutOfRange) = %v, want %v", !tc.outOfRange, tc.outOfRange)
			}
		})
	}
	if _, err := parseBlockList([]byte(`[]`), 900200); !errors.Is(err, ErrHeightOutOfRange) {
		t.Errorf("empty list: err = %v, want ErrHeightOutOfRange", err)
	}
	body := ingesttest.Fixture(t, "blocks_900123.json")
	if _, err := parseBlockList(body[:len(body)/3], 900123); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated list: err = %v, want it to say truncated", err)
	}
}

// txsJSON is the 900123 transaction list with edit applied to its first transaction.
func txsJSON(t *testing.T, edit func(tx map[string]any)) []byte {
	t.Helper()
	var txs []map[string]any
	if err := json.Unmarshal(ingesttest.Fixture(t, "block_txs_900123.json"), &txs); err != nil {
		t.Fatal(err)
	}
	edit(txs[0])
	out, err := json.Marshal(txs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func vin0(tx map[string]any) map[string]any { return tx["vin"].([]any)[0].(map[string]any) }

func TestParseBlockTxs(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(tx map[string]any)
		want string // "" = accepted
	}{
		{"the fixture is accepted", func(map[string]any) {}, ""},
		{"a status naming this block is accepted (electrs sends one)", func(tx map[string]any) {
			tx["status"] = map[string]any{"confirmed": true, "block_height": 900123, "block_hash": hash900123}
		}, ""},
		{"a status naming another block is refused", func(tx map[string]any) {
			tx["status"] = map[string]any{"confirmed": true, "block_height": 900123, "block_hash": strings.Repeat("1", 64)}
		}, "not " + hash900123},
		{"a status at another height is refused", func(tx map[string]any) {
			tx["status"] = map[string]any{"confirmed": true, "block_height": 900124}
		}, "height 900124, want 900123"},
		{"a first transaction that is not a coinbase is refused", func(tx map[string]any) { vin0(tx)["is_coinbase"] = false }, "not a coinbase"},
		{"a first transaction without inputs is refused", func(tx map[string]any) { tx["vin"] = []any{} }, "not a coinbase"},
		{"a missing scriptsig is refused", func(tx map[string]any) { delete(vin0(tx), "scriptsig") }, "scriptsig is missing"},
		{"a scriptsig that is not hex is refused", func(tx map[string]any) { vin0(tx)["scriptsig"] = "zz" }, "not hex"},
		{"a 1-byte scriptsig is refused (consensus: 2 to 100)", func(tx map[string]any) { vin0(tx)["scriptsig"] = "03" }, "1 bytes"},
		{"a 101-byte scriptsig is refused", func(tx map[string]any) { vin0(tx)["scriptsig"] = strings.Repeat("00", 101) }, "101 bytes"},
		{"an address with punctuation is refused", func(tx map[string]any) {
			tx["vout"].([]any)[0].(map[string]any)["scriptpubkey_address"] = "bc1q<script>alert(1)</script>"
		}, "is not an address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := parseBlockTxs(txsJSON(t, tc.edit), hash900123, 900123)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"bc1qa2waq5uuv9qk646xjz2jnwp2xqhg4qevpyd43k"}; strings.Join(cb.Addresses, ",") != want[0] {
					t.Errorf("addresses %v, want %v (OP_RETURN outputs left out)", cb.Addresses, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := parseBlockTxs([]byte(`[]`), hash900123, 900123); err == nil {
		t.Error("an empty list was accepted")
	}
}

func TestParseTipHeight(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       int64
		ok         bool
	}{
		{"plain digits", "900130", 900130, true},
		{"a trailing newline is fine", "900130\n", 900130, true},
		{"zero (a fresh regtest) is fine", "0", 0, true},
		{"an empty body is refused", "", 0, false},
		{"a negative height is refused", "-1", 0, false},
		{"a sign is refused", "+5", 0, false},
		{"JSON is refused", `{"height":5}`, 0, false},
		{"a decimal point is refused", "5.0", 0, false},
		{"an overflow is refused", "99999999999999999999", 0, false},
	} {
		h, err := parseTipHeight([]byte(tc.body))
		if tc.ok != (err == nil) || h != tc.want {
			t.Errorf("%s: parseTipHeight(%q) = %d, %v", tc.name, tc.body, h, err)
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

func FuzzParseBlockList(f *testing.F) {
	body := ingesttest.Fixture(f, "blocks_900123.json")
	f.Add(body, int64(900123))
	f.Add(body[:len(body)/2], int64(900123))
	f.Add([]byte(`[{"id":"`+hash900123+`","height":0,"timestamp":1,"tx_count":1,"previousblockhash":null,"bits":1}]`), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, height int64) {
		b, err := parseBlockList(data, height)
		if err != nil {
			return
		}
		if height < 0 || b.Height != height {
			t.Fatalf("accepted height %d for %d", b.Height, height)
		}
		if !hashRe.MatchString(b.Hash) || !bitsRe.MatchString(b.Bits) {
			t.Fatalf("accepted hash %q bits %q", b.Hash, b.Bits)
		}
		if (b.Height == 0) != (b.PrevHash == "") || (b.PrevHash != "" && !hashRe.MatchString(b.PrevHash)) {
			t.Fatalf("accepted previous hash %q at height %d", b.PrevHash, b.Height)
		}
		if b.Time.Unix() <= 0 || b.Time.Location() != time.UTC || b.TxCount < 1 {
			t.Fatalf("accepted time %v tx count %d", b.Time, b.TxCount)
		}
	})
}

func FuzzParseBlockTxs(f *testing.F) {
	body := ingesttest.Fixture(f, "block_txs_900123.json")
	f.Add(body, hash900123, int64(900123))
	f.Add(body[:len(body)/2], hash900123, int64(900123))
	f.Add([]byte(`[{"vin":[{"is_coinbase":true,"scriptsig":"0101"}],"vout":[{"scriptpubkey_address":"bc1qa2waq5uuv9qk6"}],"status":{"block_height":1}}]`), "", int64(1))
	f.Fuzz(func(t *testing.T, data []byte, hash string, height int64) {
		cb, err := parseBlockTxs(data, hash, height)
		if err != nil {
			return
		}
		if n := len(cb.Script); n < 2 || n > 100 {
			t.Fatalf("accepted a %d-byte coinbase", n)
		}
		for _, a := range cb.Addresses {
			if !addrRe.MatchString(a) {
				t.Fatalf("accepted address %q", a)
			}
		}
	})
}

func FuzzParseTipHeight(f *testing.F) {
	f.Add(ingesttest.Fixture(f, "tip_height.txt"))
	f.Add([]byte("0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseTipHeight(data)
		if err == nil && h < 0 {
			t.Fatalf("accepted tip height %d", h)
		}
	})
}
