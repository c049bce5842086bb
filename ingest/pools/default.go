package pools

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

//go:embed default.json
var defaultRegistry []byte

// Default is the registry the project maintains (default.json, see SOURCES.md): the major
// pools by coinbase tag. Its version is "default@" + the first 12 hex digits of its digest.
func Default() *Registry {
	sum := sha256.Sum256(defaultRegistry)
	r, err := Parse(defaultRegistry, "default@"+hex.EncodeToString(sum[:6]))
	if err != nil {
		// default.json is part of the binary and covered by tests; it cannot be invalid.
		panic("default pool registry: " + err.Error())
	}
	return r
}
