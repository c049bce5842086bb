package chain

import (
	"encoding/hex"

	"github.com/hashatlas/hashatlas/ingest/pools"
	"github.com/hashatlas/hashatlas/schemas"
)

// Reattribute applies registry to a block that carries its coinbase (one read from a node or an
// explorer) and returns the block with its new attribution and true when either the pool or the
// registry version changed. Blocks without a coinbase (file replays, simulations) keep the
// attribution they came with and return false: there is nothing to apply the registry to.
func Reattribute(registry *pools.Registry, b schemas.Block) (schemas.Block, bool) {
	switch b.AttributionMethod {
	case schemas.AttributionFile, schemas.AttributionSimulated:
		return b, false
	}
	ascii := b.CoinbaseASCII
	if ascii == "" && b.CoinbaseScriptHex != "" {
		if raw, err := hex.DecodeString(b.CoinbaseScriptHex); err == nil {
			ascii = pools.PrintableASCII(raw)
		}
	}
	a := registry.Attribute(b.CoinbaseAddresses, ascii)
	if a.Pool == b.Pool && a.Method == b.AttributionMethod && a.RegistryVersion == b.PoolRegistryVersion {
		return b, false
	}
	b.Pool, b.AttributionMethod, b.PoolRegistryVersion = a.Pool, a.Method, a.RegistryVersion
	return b, true
}
