package chain

// End-to-end tests of the Collector over the real esplora and bitcoind clients, talking to a
// local HTTP server that serves a synthetic chain in each API's documented response format
// (Blockstream/esplora API.md for Esplora; Bitcoin Core's getblockchaininfo, getblockhash and
// getblock <hash> 2 in the JSON-RPC 1.0 envelope for bitcoind). The server can extend its
// chain, replace its top blocks with a fork, answer a chosen request with 429 and
// Retry-After, and cut a chosen response short.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/bitcoind"
	"github.com/hashatlas/hashatlas/ingest/esplora"
	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The synthetic chain: heights 0..httpTip, served whole so that the collector can read the
// first block of an epoch; the tests publish from httpStart, so epoch 1 (height 2016) starts
// inside what they publish and epoch 0 is the one the first run starts in.
const (
	httpTip   = 2039
	httpStart = 2000

	// unknownTagHeight carries a coinbase tag that no registry entry matches.
	unknownTagHeight = 2021
	// oceanAddressHeight has a Foundry tag but pays OCEAN's registry address: the address wins.
	oceanAddressHeight = 2030

	foundryTag = "/Foundry USA Pool #dropgold/"
	antpoolTag = "Mined by AntPool"
	unknownTag = "/basement rig #42/"
	// oceanAddress is a well-formed, synthetic P2WPKH address (no real key behind it).
	oceanAddress = "bc1qxhmdufsvnuaaaer4ynz88fspdsxq2h9e9cetdj"

	// epoch0Bits is the genesis target (difficulty 1); epoch1Bits a 2024 mainnet target.
	epoch0Bits = "1d00ffff"
	epoch1Bits = "17034219"

	httpRegistryVersion  = "e2e-registry@1"
	rpcUser, rpcPassword = "hashatlas", "e2e-secret"
)

// httpRegistry is a pools-v2.json registry: two pools by tag, one by address.
var httpRegistry = `[
  {"id": 1, "name": "Foundry USA", "addresses": [], "tags": ["foundry usa"], "link": "https://foundrydigital.com/"},
  {"id": 2, "name": "AntPool", "addresses": [], "tags": ["/AntPool/", "Mined by AntPool"], "link": "https://www.antpool.com/"},
  {"id": 3, "name": "OCEAN", "addresses": ["` + oceanAddress + `"], "tags": ["ocean\\.xyz"], "link": "https://ocean.xyz/"}
]`

// bitsFacts are the difficulty and work of each target the chain uses, computed independently
// of package schemas (exact rational arithmetic, rounded to float64 for the difficulty).
var bitsFacts = map[string]struct {
	difficulty float64
	work       string
}{
	epoch0Bits: {1, "4295032833"},
	epoch1Bits: {86388558925171.02, "371041696979166003650763"},
}

var httpNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// synthBlock is one block of the synthetic chain.
type synthBlock struct {
	height   int64
	fork     int
	hash     string
	prevHash string // empty at height 0
	time     int64
	bits     string
	txCount  int64
	tag      string // the pool tag in the coinbase scriptSig
	script   []byte // the coinbase scriptSig
	address  string // the one address the coinbase pays (it also has an OP_RETURN output)
}

// genesisScript is the coinbase scriptSig of Bitcoin's genesis block.
const genesisScript = "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73"

func makeBlock(h int64, fork int, prev string) synthBlock {
	seed := sha256.Sum256(fmt.Appendf(nil, "hashatlas e2e block %d fork %d", h, fork))
	b := synthBlock{
		height: h, fork: fork, prevHash: prev,
		hash:    "00000000000000000002" + hex.EncodeToString(seed[:22]),
		time:    1_716_000_000 + 600*h + 13*int64(fork),
		bits:    epoch1Bits,
		txCount: 1 + (h*37+int64(fork)*11)%4000,
		address: "bc1q" + bech32Chars(seed[22:]),
	}
	if h < 2016 {
		b.bits = epoch0Bits
	}
	switch {
	case h == unknownTagHeight && fork == 0:
		b.tag = unknownTag
	case (h+int64(fork))%2 == 0:
		b.tag = foundryTag
	default:
		b.tag = antpoolTag
	}
	if h == oceanAddressHeight {
		b.address = oceanAddress
	}
	if h == 0 {
		b.tag = ""
		b.script, _ = hex.DecodeString(genesisScript)
		return b
	}
	// BIP 34 height push, the pool's tag, and an 8-byte extranonce. Every byte but the tag's is
	// outside printable ASCII (the height's bytes are for heights 2000 to 2079, the tags are
	// shorter than 0x20 bytes so their push length is, and the extranonce has its high bits
	// set), so the printable ASCII of the script is exactly the tag.
	b.script = append(b.script, scriptNumPush(h)...)
	b.script = append(b.script, byte(len(b.tag)))
	b.script = append(b.script, b.tag...)
	b.script = append(b.script, 8)
	for _, c := range seed[:8] {
		b.script = append(b.script, c|0x80)
	}
	return b
}

// scriptNumPush is the minimal push of n as a script number (BIP 34).
func scriptNumPush(n int64) []byte {
	var num []byte
	for ; n > 0; n >>= 8 {
		num = append(num, byte(n))
	}
	if len(num) > 0 && num[len(num)-1]&0x80 != 0 {
		num = append(num, 0)
	}
	return append([]byte{byte(len(num))}, num...)
}

// bech32Chars is 38 characters of the Bech32 alphabet drawn from seed: with "bc1q" in front,
// the shape of a P2WPKH address (the checksum is not valid; the parsers do not check it).
func bech32Chars(seed []byte) string {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	out := make([]byte, 38)
	for i := range out {
		out[i] = charset[(seed[i%len(seed)]+byte(i*7))%32]
	}
	return string(out)
}

// wantBlock is the message the collector must publish for b, read from source.
func wantBlock(b synthBlock, source string) schemas.Block {
	pool, method := pools.Unknown, pools.MethodUnknown
	switch {
	case b.address == oceanAddress:
		pool, method = "ocean", pools.MethodAddress
	case b.tag == foundryTag:
		pool, method = "foundryusa", pools.MethodTag
	case b.tag == antpoolTag:
		pool, method = "antpool", pools.MethodTag
	}
	facts := bitsFacts[b.bits]
	return schemas.Block{
		Height: b.height, Hash: b.hash, PrevHash: b.prevHash, Time: time.Unix(b.time, 0).UTC(), Bits: b.bits,
		Difficulty: facts.difficulty, Work: facts.work, TxCount: b.txCount,
		CoinbaseScriptHex: hex.EncodeToString(b.script), CoinbaseASCII: b.tag, CoinbaseAddresses: []string{b.address},
		Pool: pool, PoolRegistryVersion: httpRegistryVersion, AttributionMethod: method, Source: source,
		ObservedAt: httpNow,
	}
}

// truncation is how the server cuts a response short.
type truncation int

const (
	notTruncated truncation = iota
	// cutJSON sends the first half of the document as a complete response (its Content-Length
	// says so): the client receives it whole and cannot parse it.
	cutJSON
	// cutConnection declares the full Content-Length, sends half and closes the connection: the
	// client's read of the body fails.
	cutConnection
)

// served is one request as the server answered it.
type served struct {
	key    string
	status int
	at     time.Time // when the request arrived
}

// chainServer serves a synthetic best chain in the format of one API (esplora.SourceName or
// bitcoind.SourceName). It is safe for concurrent use.
type chainServer struct {
	api string
	srv *httptest.Server

	mu        sync.Mutex
	chain     []synthBlock // index = height
	byHash    map[string]synthBlock
	throttled map[string]bool
	truncated map[string]truncation
	log       []served
}

func newChainServer(t *testing.T, api string, tip int64) *chainServer {
	t.Helper()
	s := &chainServer{api: api, byHash: map[string]synthBlock{}, throttled: map[string]bool{}, truncated: map[string]truncation{}}
	s.extendLocked(int(tip) + 1)
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *chainServer) extendLocked(n int) {
	for range n {
		h, prev, fork := int64(len(s.chain)), "", 0
		if h > 0 {
			prev, fork = s.chain[h-1].hash, s.chain[h-1].fork
		}
		b := makeBlock(h, fork, prev)
		s.chain = append(s.chain, b)
		s.byHash[b.hash] = b
	}
}

// extend mines n blocks on the tip.
func (s *chainServer) extend(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extendLocked(n)
}

// reorg replaces the top depth blocks with a new fork and then extends it by extra blocks.
// The fork's tags alternate the other way, so a replaced height changes pool.
func (s *chainServer) reorg(depth, extra int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tip := len(s.chain) - 1
	fork := s.chain[tip].fork + 1
	s.chain = s.chain[:len(s.chain)-depth]
	for h := len(s.chain); h <= tip+extra; h++ {
		b := makeBlock(int64(h), fork, s.chain[h-1].hash)
		s.chain = append(s.chain, b)
		s.byHash[b.hash] = b
	}
}

// throttleNext answers the next request with key with 429 Too Many Requests and Retry-After: 1.
func (s *chainServer) throttleNext(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttled[key] = true
}

// truncate cuts every answer to key short, the way mode says, until heal.
func (s *chainServer) truncate(key string, mode truncation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncated[key] = mode
}

// heal ends every truncation.
func (s *chainServer) heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.truncated)
}

func (s *chainServer) block(h int64) synthBlock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chain[h]
}

func (s *chainServer) blocks(from, to int64) []synthBlock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]synthBlock(nil), s.chain[from:to+1]...)
}

// requests returns the requests with key, in arrival order.
func (s *chainServer) requests(key string) []served {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []served
	for _, r := range s.log {
		if r.key == key {
			out = append(out, r)
		}
	}
	return out
}

// tipKey is the request for the tip height.
func (s *chainServer) tipKey() string {
	if s.api == esplora.SourceName {
		return "/blocks/tip/height"
	}
	return "getblockchaininfo []"
}

// blockKey is the request that carries the header of the block at height h on the current
// chain: GET /blocks/:height, or getblock <hash> 2.
func (s *chainServer) blockKey(h int64) string {
	if s.api == esplora.SourceName {
		return fmt.Sprintf("/blocks/%d", h)
	}
	return fmt.Sprintf(`getblock [%q,2]`, s.block(h).hash)
}

// httpTestConfig keeps retries fast: a Retry-After of 1s is capped to MaxBackoff (50ms).
func httpTestConfig() ingest.HTTPConfig {
	return ingest.HTTPConfig{
		Timeout: 5 * time.Second, MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		UserAgent: "hashatlas-e2e",
	}
}

// source is a real client of the server's API.
func (s *chainServer) source(t *testing.T) ingest.BlockSource {
	t.Helper()
	cfg := httpTestConfig()
	var (
		src ingest.BlockSource
		err error
	)
	switch s.api {
	case esplora.SourceName:
		cfg.RequestsPerSecond = -1 // no rate limit
		src, err = esplora.New(esplora.Config{BaseURL: s.srv.URL + "/api", HTTP: cfg}, nil, nil)
	case bitcoind.SourceName:
		src, err = bitcoind.New(bitcoind.Config{URL: s.srv.URL, User: rpcUser, Password: rpcPassword, HTTP: cfg}, nil, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// response is what a handler answers before faults are applied.
type response struct {
	key         string
	status      int
	contentType string
	body        []byte
	header      http.Header
}

// ServeHTTP answers one request in the server's API format, then applies the 429 or the
// truncation set for its key, and logs it.
func (s *chainServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var rsp response
	if s.api == esplora.SourceName {
		rsp = s.serveEsplora(r)
	} else {
		rsp = s.serveBitcoind(r)
	}
	trunc := s.truncated[rsp.key]
	if s.throttled[rsp.key] {
		delete(s.throttled, rsp.key)
		rsp = response{key: rsp.key, status: http.StatusTooManyRequests, contentType: "text/plain; charset=utf-8",
			body: []byte("Too Many Requests\n"), header: http.Header{"Retry-After": {"1"}}}
		trunc = notTruncated
	}
	s.log = append(s.log, served{key: rsp.key, status: rsp.status, at: at})

	for k, vs := range rsp.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", rsp.contentType)
	body := rsp.body
	switch trunc {
	case cutJSON:
		body = body[:len(body)/2]
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	case cutConnection:
		// The server closes a connection whose response fell short of its Content-Length.
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		body = body[:len(body)/2]
	default:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(rsp.status)
	_, _ = w.Write(body)
}

func textResponse(key string, status int, text string) response {
	return response{key: key, status: status, contentType: "text/plain", body: []byte(text)}
}

func jsonResponse(key string, status int, v any) response {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err) // the values are the test's own
	}
	return response{key: key, status: status, contentType: "application/json", body: append(body, '\n')}
}

// Esplora's block format (API.md "Block format"; electrs' field order). bits is a number.
type esploraBlockJSON struct {
	ID                string  `json:"id"`
	Height            int64   `json:"height"`
	Version           int64   `json:"version"`
	Timestamp         int64   `json:"timestamp"`
	TxCount           int64   `json:"tx_count"`
	Size              int64   `json:"size"`
	Weight            int64   `json:"weight"`
	MerkleRoot        string  `json:"merkle_root"`
	PreviousBlockHash *string `json:"previousblockhash"`
	MedianTime        int64   `json:"mediantime"`
	Nonce             uint32  `json:"nonce"`
	Bits              uint32  `json:"bits"`
	Difficulty        float64 `json:"difficulty"`
}

// Esplora's transaction format (API.md "Transaction format"), as /block/:hash/txs returns it.
type esploraTxJSON struct {
	TxID     string            `json:"txid"`
	Version  int               `json:"version"`
	Locktime int               `json:"locktime"`
	Vin      []esploraVinJSON  `json:"vin"`
	Vout     []esploraVoutJSON `json:"vout"`
	Size     int               `json:"size"`
	Weight   int               `json:"weight"`
	Fee      int64             `json:"fee"`
	Status   struct {
		Confirmed   bool   `json:"confirmed"`
		BlockHeight int64  `json:"block_height"`
		BlockHash   string `json:"block_hash"`
		BlockTime   int64  `json:"block_time"`
	} `json:"status"`
}

type esploraVinJSON struct {
	TxID         string    `json:"txid"`
	Vout         uint32    `json:"vout"`
	Prevout      *struct{} `json:"prevout"` // null for a coinbase input
	ScriptSig    string    `json:"scriptsig"`
	ScriptSigAsm string    `json:"scriptsig_asm"`
	Witness      []string  `json:"witness"`
	IsCoinbase   bool      `json:"is_coinbase"`
	Sequence     uint32    `json:"sequence"`
}

type esploraVoutJSON struct {
	ScriptPubKey        string `json:"scriptpubkey"`
	ScriptPubKeyAsm     string `json:"scriptpubkey_asm"`
	ScriptPubKeyType    string `json:"scriptpubkey_type"`
	ScriptPubKeyAddress string `json:"scriptpubkey_address,omitempty"`
	Value               int64  `json:"value"`
}

func bitsNumber(bits string) uint32 {
	n, err := strconv.ParseUint(bits, 16, 32)
	if err != nil {
		panic(err)
	}
	return uint32(n)
}

// outputs are a block's coinbase outputs: its address, then the witness commitment.
func outputs(b synthBlock) (program, commitment string) {
	p := sha256.Sum256([]byte("program " + b.address))
	c := sha256.Sum256([]byte("commitment " + b.hash))
	return hex.EncodeToString(p[:20]), "aa21a9ed" + hex.EncodeToString(c[:])
}

func merkleRoot(b synthBlock) string {
	m := sha256.Sum256([]byte("merkle " + b.hash))
	return hex.EncodeToString(m[:])
}

func coinbaseTxID(b synthBlock) string {
	m := sha256.Sum256([]byte("coinbase " + b.hash))
	return hex.EncodeToString(m[:])
}

func (s *chainServer) esploraBlock(b synthBlock) esploraBlockJSON {
	diff := bitsFacts[b.bits].difficulty
	j := esploraBlockJSON{
		ID: b.hash, Height: b.height, Version: 0x2a400000, Timestamp: b.time, TxCount: b.txCount,
		Size: 1_000 + 400*b.txCount, Weight: 3_990_000, MerkleRoot: merkleRoot(b), MedianTime: b.time - 3000,
		Nonce: uint32(b.height * 2654435761), Bits: bitsNumber(b.bits), Difficulty: diff,
	}
	if b.prevHash != "" {
		j.PreviousBlockHash = &b.prevHash
	}
	return j
}

func (s *chainServer) serveEsplora(r *http.Request) response {
	path, ok := strings.CutPrefix(r.URL.Path, "/api")
	if !ok || r.Method != http.MethodGet {
		return textResponse(r.Method+" "+r.URL.Path, http.StatusNotFound, "Not Found")
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	tip := int64(len(s.chain)) - 1
	switch {
	case path == "/blocks/tip/height":
		return textResponse(path, http.StatusOK, strconv.FormatInt(tip, 10))
	case len(parts) == 2 && parts[0] == "blocks":
		// Up to 10 blocks from :height down; a height above the tip starts at the tip.
		h, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || h < 0 {
			return textResponse(path, http.StatusBadRequest, "Invalid height")
		}
		h = min(h, tip)
		var list []esploraBlockJSON
		for i := h; i >= 0 && i > h-10; i-- {
			list = append(list, s.esploraBlock(s.chain[i]))
		}
		return jsonResponse(path, http.StatusOK, list)
	case len(parts) == 4 && parts[0] == "block" && parts[2] == "txs" && parts[3] == "0":
		b, ok := s.byHash[parts[1]]
		if !ok {
			return textResponse(path, http.StatusNotFound, "Block not found")
		}
		program, commitment := outputs(b)
		var tx esploraTxJSON
		tx.TxID, tx.Version, tx.Size, tx.Weight = coinbaseTxID(b), 2, 250, 892
		tx.Vin = []esploraVinJSON{{
			TxID: strings.Repeat("0", 64), Vout: 0xffffffff, ScriptSig: hex.EncodeToString(b.script),
			ScriptSigAsm: pushAsm(b.script), Witness: []string{strings.Repeat("0", 64)}, IsCoinbase: true, Sequence: 0xffffffff,
		}}
		tx.Vout = []esploraVoutJSON{
			{ScriptPubKey: "0014" + program, ScriptPubKeyAsm: "OP_0 OP_PUSHBYTES_20 " + program,
				ScriptPubKeyType: "v0_p2wpkh", ScriptPubKeyAddress: b.address, Value: 312_500_000 + b.height},
			{ScriptPubKey: "6a24" + commitment, ScriptPubKeyAsm: "OP_RETURN OP_PUSHBYTES_36 " + commitment,
				ScriptPubKeyType: "op_return", Value: 0},
		}
		tx.Status.Confirmed, tx.Status.BlockHeight, tx.Status.BlockHash, tx.Status.BlockTime = true, b.height, b.hash, b.time
		return jsonResponse(path, http.StatusOK, []esploraTxJSON{tx})
	}
	return textResponse(path, http.StatusNotFound, "Not Found")
}

// pushAsm is Esplora's scriptsig_asm of a push-only script.
func pushAsm(script []byte) string {
	var ops []string
	for i := 0; i < len(script); {
		n := int(script[i])
		if n == 0 || n > 75 || i+1+n > len(script) {
			ops = append(ops, fmt.Sprintf("OP_UNKNOWN_%d", script[i]))
			i++
			continue
		}
		ops = append(ops, fmt.Sprintf("OP_PUSHBYTES_%d %x", n, script[i+1:i+1+n]))
		i += 1 + n
	}
	return strings.Join(ops, " ")
}

// Bitcoin Core's getblock <hash> 2 result (Core 28), the transaction list trimmed to the
// coinbase (nTx keeps the full count).
type coreBlockJSON struct {
	Hash              string       `json:"hash"`
	Confirmations     int64        `json:"confirmations"`
	Height            int64        `json:"height"`
	Version           int64        `json:"version"`
	VersionHex        string       `json:"versionHex"`
	MerkleRoot        string       `json:"merkleroot"`
	Time              int64        `json:"time"`
	MedianTime        int64        `json:"mediantime"`
	Nonce             uint32       `json:"nonce"`
	Bits              string       `json:"bits"`
	Difficulty        float64      `json:"difficulty"`
	ChainWork         string       `json:"chainwork"`
	NTx               int64        `json:"nTx"`
	PreviousBlockHash string       `json:"previousblockhash,omitempty"`
	NextBlockHash     string       `json:"nextblockhash,omitempty"`
	StrippedSize      int64        `json:"strippedsize"`
	Size              int64        `json:"size"`
	Weight            int64        `json:"weight"`
	Tx                []coreTxJSON `json:"tx"`
}

type coreTxJSON struct {
	TxID     string         `json:"txid"`
	Hash     string         `json:"hash"`
	Version  int            `json:"version"`
	Size     int            `json:"size"`
	VSize    int            `json:"vsize"`
	Weight   int            `json:"weight"`
	Locktime int            `json:"locktime"`
	Vin      []coreVinJSON  `json:"vin"`
	Vout     []coreVoutJSON `json:"vout"`
}

type coreVinJSON struct {
	Coinbase    string   `json:"coinbase"`
	TxInWitness []string `json:"txinwitness"`
	Sequence    uint32   `json:"sequence"`
}

type coreVoutJSON struct {
	Value        json.Number `json:"value"`
	N            int         `json:"n"`
	ScriptPubKey struct {
		Asm     string `json:"asm"`
		Desc    string `json:"desc"`
		Hex     string `json:"hex"`
		Address string `json:"address,omitempty"`
		Type    string `json:"type"`
	} `json:"scriptPubKey"`
}

func (s *chainServer) coreBlock(b synthBlock) coreBlockJSON {
	tip := int64(len(s.chain)) - 1
	j := coreBlockJSON{
		Hash: b.hash, Confirmations: tip - b.height + 1, Height: b.height, Version: 0x2a400000, VersionHex: "2a400000",
		MerkleRoot: merkleRoot(b), Time: b.time, MedianTime: b.time - 3000, Nonce: uint32(b.height * 2654435761),
		Bits: b.bits, Difficulty: bitsFacts[b.bits].difficulty, ChainWork: fmt.Sprintf("%064x", (b.height+1)*0x1f3b), NTx: b.txCount,
		PreviousBlockHash: b.prevHash, StrippedSize: 800_000, Size: 1_000 + 400*b.txCount, Weight: 3_990_000,
	}
	if b.height < tip {
		j.NextBlockHash = s.chain[b.height+1].hash
	}
	program, commitment := outputs(b)
	var tx coreTxJSON
	tx.TxID, tx.Hash, tx.Version, tx.Size, tx.VSize, tx.Weight = coinbaseTxID(b), coinbaseTxID(b), 2, 250, 223, 892
	tx.Vin = []coreVinJSON{{Coinbase: hex.EncodeToString(b.script), TxInWitness: []string{strings.Repeat("0", 64)}, Sequence: 0xffffffff}}
	tx.Vout = make([]coreVoutJSON, 2)
	tx.Vout[0].Value = json.Number(fmt.Sprintf("%d.%08d", 3, 12_500_000+b.height))
	tx.Vout[0].ScriptPubKey.Asm = "0 " + program
	tx.Vout[0].ScriptPubKey.Desc = "addr(" + b.address + ")"
	tx.Vout[0].ScriptPubKey.Hex = "0014" + program
	tx.Vout[0].ScriptPubKey.Address = b.address
	tx.Vout[0].ScriptPubKey.Type = "witness_v0_keyhash"
	tx.Vout[1].Value = "0.00000000"
	tx.Vout[1].N = 1
	tx.Vout[1].ScriptPubKey.Asm = "OP_RETURN " + commitment
	tx.Vout[1].ScriptPubKey.Desc = "raw(6a24" + commitment + ")"
	tx.Vout[1].ScriptPubKey.Hex = "6a24" + commitment
	tx.Vout[1].ScriptPubKey.Type = "nulldata"
	j.Tx = []coreTxJSON{tx}
	return j
}

// rpcEnvelope is the JSON-RPC 1.0 response bitcoind sends to legacy requests: result and
// error both present, one of them null.
type rpcEnvelope struct {
	Result any             `json:"result"`
	Error  any             `json:"error"`
	ID     json.RawMessage `json:"id"`
}

type rpcErrorJSON struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (s *chainServer) serveBitcoind(r *http.Request) response {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return textResponse(r.Method+" "+r.URL.Path, http.StatusNotFound, "")
	}
	if u, p, ok := r.BasicAuth(); !ok || u != rpcUser || p != rpcPassword {
		rsp := textResponse("unauthorized", http.StatusUnauthorized, "")
		rsp.header = http.Header{"Www-Authenticate": {`Basic realm="jsonrpc"`}}
		return rsp
	}
	var req struct {
		JSONRPC string            `json:"jsonrpc"`
		ID      json.RawMessage   `json:"id"`
		Method  string            `json:"method"`
		Params  []json.RawMessage `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return jsonResponse("malformed", http.StatusInternalServerError,
			rpcEnvelope{Error: rpcErrorJSON{-32700, "Parse error"}, ID: json.RawMessage("null")})
	}
	params := make([]string, len(req.Params))
	for i, p := range req.Params {
		var buf bytes.Buffer
		_ = json.Compact(&buf, p)
		params[i] = buf.String()
	}
	key := req.Method + " [" + strings.Join(params, ",") + "]"
	ok := func(result any) response {
		return jsonResponse(key, http.StatusOK, rpcEnvelope{Result: result, ID: req.ID})
	}
	fail := func(code int, msg string) response {
		// Legacy requests get their RPC errors with HTTP 500 (404 for an unknown method).
		status := http.StatusInternalServerError
		if code == -32601 {
			status = http.StatusNotFound
		}
		return jsonResponse(key, status, rpcEnvelope{Error: rpcErrorJSON{code, msg}, ID: req.ID})
	}
	tip := int64(len(s.chain)) - 1
	switch req.Method {
	case "getblockchaininfo":
		best := s.chain[tip]
		return ok(map[string]any{
			"chain": "main", "blocks": tip, "headers": tip, "bestblockhash": best.hash,
			"difficulty": bitsFacts[best.bits].difficulty, "time": best.time, "mediantime": best.time - 3000,
			"verificationprogress": 1, "initialblockdownload": false,
			"chainwork": fmt.Sprintf("%064x", (tip+1)*0x1f3b), "size_on_disk": 734_219_881_470, "pruned": false,
			"warnings": []string{},
		})
	case "getblockhash":
		var h int64
		if len(req.Params) != 1 || json.Unmarshal(req.Params[0], &h) != nil {
			return fail(-1, "getblockhash height")
		}
		if h < 0 || h > tip {
			return fail(-8, "Block height out of range")
		}
		return ok(s.chain[h].hash)
	case "getblock":
		var hash string
		var verbosity int
		if len(req.Params) != 2 || json.Unmarshal(req.Params[0], &hash) != nil || json.Unmarshal(req.Params[1], &verbosity) != nil {
			return fail(-1, "getblock \"blockhash\" ( verbosity )")
		}
		if verbosity != 2 {
			return fail(-8, "this test server answers verbosity 2 only")
		}
		b, found := s.byHash[hash]
		if !found || s.chain[b.height].hash != hash {
			return fail(-5, "Block not found")
		}
		return ok(s.coreBlock(b))
	}
	return fail(-32601, "Method not found")
}

// newHTTPCollector is a collector over a real client of srv, publishing to a new topic.
func newHTTPCollector(t *testing.T, srv *chainServer) (*Collector, *topic) {
	t.Helper()
	reg, err := pools.Parse([]byte(httpRegistry), httpRegistryVersion)
	if err != nil {
		t.Fatal(err)
	}
	tp := &topic{}
	c, err := New(Config{StartHeight: httpStart, Now: func() time.Time { return httpNow }}, srv.source(t), reg, tp, tp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, tp
}

func collect(c *Collector) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Collect(ctx)
}

func heightsOf(bs []schemas.Block) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.Height
	}
	return out
}

// checkPublished requires got to be exactly the messages for want, in order.
func checkPublished(t *testing.T, got []schemas.Block, want []synthBlock, source string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("published heights %v, want %d blocks from %d", heightsOf(got), len(want), want[0].height)
	}
	for i, w := range want {
		wb := wantBlock(w, source)
		if !reflect.DeepEqual(got[i], wb) {
			t.Errorf("block %d:\n got %+v\nwant %+v", w.height, got[i], wb)
		}
		if err := got[i].Validate(); err != nil {
			t.Errorf("block %d does not validate: %v", w.height, err)
		}
	}
}

// checkOncePerHeight requires that no height was published twice.
func checkOncePerHeight(t *testing.T, tp *topic) {
	t.Helper()
	seen := map[int64]int{}
	for _, b := range tp.blocks {
		seen[b.Height]++
	}
	for h, n := range seen {
		if n > 1 {
			t.Errorf("height %d published %d times", h, n)
		}
	}
}

func wantEpochs(srv *chainServer, source string) []schemas.DifficultyEpoch {
	var out []schemas.DifficultyEpoch
	for _, start := range []int64{0, 2016} {
		b := srv.block(start)
		first := time.Unix(b.time, 0).UTC()
		out = append(out, schemas.DifficultyEpoch{
			Epoch: start / 2016, StartHeight: start, Bits: b.bits, Difficulty: bitsFacts[b.bits].difficulty,
			FirstBlockTime: &first, Source: source,
		})
	}
	return out
}

var httpAPIs = []string{esplora.SourceName, bitcoind.SourceName}

func TestHTTPSourceFirstRunPublishesFromTheStartHeightAttributedWithEpochs(t *testing.T) {
	for _, api := range httpAPIs {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			srv := newChainServer(t, api, httpTip)
			c, tp := newHTTPCollector(t, srv)
			if err := collect(c); err != nil {
				t.Fatal(err)
			}
			checkPublished(t, tp.blocks, srv.blocks(httpStart, httpTip), api)

			perPool := map[string]int{}
			for _, b := range tp.blocks {
				perPool[b.Pool+"/"+b.AttributionMethod]++
				if b.PoolRegistryVersion != httpRegistryVersion {
					t.Errorf("block %d attributed with registry %q, want %q", b.Height, b.PoolRegistryVersion, httpRegistryVersion)
				}
			}
			wantPools := map[string]int{"foundryusa/tag": 19, "antpool/tag": 19, "ocean/address": 1, "unknown/unknown": 1}
			if !reflect.DeepEqual(perPool, wantPools) {
				t.Errorf("blocks per pool/method %v, want %v", perPool, wantPools)
			}
			if b := tp.blocks[unknownTagHeight-httpStart]; b.Pool != "unknown" || b.AttributionMethod != "unknown" || b.CoinbaseASCII != unknownTag {
				t.Errorf("block %d with tag %q attributed to %q by %q, want unknown by unknown", b.Height, b.CoinbaseASCII, b.Pool, b.AttributionMethod)
			}

			// Epoch 0, which the run starts in, and epoch 1, which starts at 2016 inside it.
			if !reflect.DeepEqual(tp.epochs, wantEpochs(srv, api)) {
				t.Errorf("epochs\n got %+v\nwant %+v", tp.epochs, wantEpochs(srv, api))
			}
			for _, e := range tp.epochs {
				if err := e.Validate(); err != nil {
					t.Errorf("epoch %d does not validate: %v", e.Epoch, err)
				}
			}

			if got := testutil.ToFloat64(c.published); got != 40 {
				t.Errorf("published counter %v, want 40", got)
			}
			if got := testutil.ToFloat64(c.tipGauge); got != httpTip {
				t.Errorf("tip gauge %v, want %d", got, httpTip)
			}
			if got := testutil.ToFloat64(c.orphaned); got != 0 {
				t.Errorf("orphan counter %v, want 0", got)
			}
			for h := int64(httpStart); h <= httpTip; h++ {
				if n := len(srv.requests(srv.blockKey(h))); n != 1 {
					t.Errorf("block %d requested %d times, want once", h, n)
				}
			}
		})
	}
}

func TestHTTPSourceSecondRunPublishesOnlyTheNewBlocks(t *testing.T) {
	for _, api := range httpAPIs {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			srv := newChainServer(t, api, httpTip)
			c, tp := newHTTPCollector(t, srv)
			if err := collect(c); err != nil {
				t.Fatal(err)
			}
			first := len(tp.blocks)

			srv.extend(5)
			if err := collect(c); err != nil {
				t.Fatal(err)
			}
			checkPublished(t, tp.blocks[first:], srv.blocks(httpTip+1, httpTip+5), api)
			checkOncePerHeight(t, tp)
			if len(tp.epochs) != 2 {
				t.Errorf("%d epoch messages after the resume, want the first run's 2", len(tp.epochs))
			}
			// The resume checked the last published block against the source and read nothing
			// else below the new blocks.
			if n := len(srv.requests(srv.blockKey(httpTip))); n != 2 {
				t.Errorf("block %d requested %d times, want 2 (published, then checked)", httpTip, n)
			}
			if n := len(srv.requests(srv.blockKey(httpTip - 1))); n != 1 {
				t.Errorf("block %d requested %d times, want once", httpTip-1, n)
			}
			if got := testutil.ToFloat64(c.published); got != 45 {
				t.Errorf("published counter %v, want 45", got)
			}
		})
	}
}

func TestHTTPSourceTwoBlockReorgRepublishesTheReplacedHeights(t *testing.T) {
	for _, api := range httpAPIs {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			srv := newChainServer(t, api, httpTip)
			c, tp := newHTTPCollector(t, srv)
			if err := collect(c); err != nil {
				t.Fatal(err)
			}
			first := len(tp.blocks)
			old := srv.blocks(httpTip-1, httpTip)

			srv.reorg(2, 1) // 2038 and 2039 replaced, 2040 new
			if err := collect(c); err != nil {
				t.Fatal(err)
			}
			replaced := srv.blocks(httpTip-1, httpTip+1)
			checkPublished(t, tp.blocks[first:], replaced, api)
			if got := testutil.ToFloat64(c.orphaned); got != 2 {
				t.Errorf("orphan counter %v, want 2", got)
			}

			latest := tp.latest()
			for i, o := range old {
				nb := latest[o.height]
				if nb.Hash == o.hash || nb.Hash != replaced[i].hash {
					t.Errorf("height %d is %s after the reorg, want the new fork's %s (was %s)", o.height, nb.Hash, replaced[i].hash, o.hash)
				}
			}
			// The new fork's tags alternate the other way: the replaced heights change pool.
			if p := latest[httpTip-1].Pool; p != "antpool" {
				t.Errorf("height %d attributed to %q after the reorg, want antpool", httpTip-1, p)
			}
			if p := latest[httpTip].Pool; p != "foundryusa" {
				t.Errorf("height %d attributed to %q after the reorg, want foundryusa", httpTip, p)
			}
			if got := latest[httpTip-1].PrevHash; got != srv.block(httpTip-2).hash {
				t.Errorf("the new fork's first block links to %s, want the unchanged %d", got, httpTip-2)
			}
			// Below the fork every height was published once.
			seen := map[int64]int{}
			for _, b := range tp.blocks {
				seen[b.Height]++
			}
			for h := int64(httpStart); h <= httpTip+1; h++ {
				want := 1
				if h == httpTip-1 || h == httpTip {
					want = 2
				}
				if seen[h] != want {
					t.Errorf("height %d published %d times, want %d", h, seen[h], want)
				}
			}
		})
	}
}

func TestHTTPSourceRetriesA429AfterItsRetryAfterCappedByMaxBackoff(t *testing.T) {
	maxBackoff := httpTestConfig().MaxBackoff
	for _, api := range httpAPIs {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			srv := newChainServer(t, api, httpTip)
			c, tp := newHTTPCollector(t, srv)
			throttled := []string{srv.tipKey(), srv.blockKey(2010)}
			for _, k := range throttled {
				srv.throttleNext(k)
			}
			if err := collect(c); err != nil {
				t.Fatal(err)
			}
			checkPublished(t, tp.blocks, srv.blocks(httpStart, httpTip), api)

			for _, k := range throttled {
				reqs := srv.requests(k)
				if len(reqs) != 2 || reqs[0].status != http.StatusTooManyRequests || reqs[1].status != http.StatusOK {
					t.Errorf("%s: served %+v, want a 429 then a 200", k, reqs)
					continue
				}
				// Retry-After: 1 capped by MaxBackoff: the retry waits MaxBackoff, not the
				// millisecond BaseBackoff and not the full second (the upper bound leaves
				// 950ms of slack for a loaded machine).
				gap := reqs[1].at.Sub(reqs[0].at)
				if gap < maxBackoff || gap >= time.Second {
					t.Errorf("%s: retried after %v, want Retry-After capped to %v", k, gap, maxBackoff)
				}
			}
		})
	}
}

func TestHTTPSourceTruncatedBodyEndsTheRunAndTheNextResumesAtItsHeight(t *testing.T) {
	const h = 2020
	modes := []struct {
		name  string
		mode  truncation
		fault string
		// attempts is how often the client asks: a cut connection is a transport failure and
		// is retried; a complete but cut document is permanent and is not.
		attempts int
	}{
		{"a complete response whose JSON is cut in half", cutJSON, "truncated: unexpected end of JSON input", 1},
		{"a body cut short of its Content-Length", cutConnection, "unexpected EOF", httpTestConfig().MaxAttempts},
	}
	for _, api := range httpAPIs {
		for _, m := range modes {
			t.Run(api+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				srv := newChainServer(t, api, httpTip)
				c, tp := newHTTPCollector(t, srv)
				key := srv.blockKey(h)
				srv.truncate(key, m.mode)

				err := collect(c)
				if err == nil {
					t.Fatal("the run succeeded over a truncated response")
				}
				t.Logf("the run ended with: %v", err)
				for _, want := range []string{api + ": ", "block at height 2020", m.fault} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				if n := len(srv.requests(key)); n != m.attempts {
					t.Errorf("the truncated response was requested %d times, want %d", n, m.attempts)
				}
				checkPublished(t, tp.blocks, srv.blocks(httpStart, h-1), api)
				if len(tp.epochs) != 2 {
					t.Errorf("%d epoch messages before the failure, want 2 (epochs 0 and 1)", len(tp.epochs))
				}

				srv.heal()
				if err := collect(c); err != nil {
					t.Fatal(err)
				}
				checkPublished(t, tp.blocks[h-httpStart:], srv.blocks(h, httpTip), api)
				checkOncePerHeight(t, tp)
				if len(tp.epochs) != 2 {
					t.Errorf("%d epoch messages after the resume, want 2", len(tp.epochs))
				}
			})
		}
	}
}
