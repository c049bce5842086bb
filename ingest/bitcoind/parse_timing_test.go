package bitcoind

import (
	"encoding/json"
	"testing"
)

// BenchmarkParseBlockFull parses a verbosity-2 getblock result the size of a full block:
// the 900123 fixture with its second transaction repeated to 3,000 transactions.
func BenchmarkParseBlockFull(b *testing.B) {
	var m map[string]any
	if err := json.Unmarshal(fixtureResult(b, "getblock_900123.json"), &m); err != nil {
		b.Fatal(err)
	}
	txs := m["tx"].([]any)
	for len(txs) < 3000 {
		txs = append(txs, txs[1])
	}
	m["tx"], m["nTx"] = txs, len(txs)
	res, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(res)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseBlock(res, 900123); err != nil {
			b.Fatal(err)
		}
	}
}
