// Package pools identifies the mining pool that found a block, by the rules of
// estimate/METHOD.md §4.1: the first pool in the registry one of whose addresses receives a
// coinbase output, else the first whose tag (a case-insensitive regular expression) matches the
// printable ASCII of the coinbase scriptSig, else "unknown". The registry is in mempool.space's
// pools-v2.json format; every attribution carries the registry version it was made with.
package pools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// Unknown is the slug of blocks no registry entry matches.
const Unknown = "unknown"

// Attribution methods (schemas.Block.AttributionMethod).
const (
	MethodAddress = "address"
	MethodTag     = "tag"
	MethodUnknown = "unknown"
)

// Pool is one registry entry in the pools-v2.json format.
type Pool struct {
	ID        int      `json:"id"`
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
	Tags      []string `json:"tags"`
	Link      string   `json:"link"`
}

// Slug is the pool's name lower-cased with every character outside [a-z0-9] removed
// ("Foundry USA" → "foundryusa"), the identifier used in every table and message.
func Slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Registry is a loaded, validated pool registry. It is immutable and safe for concurrent use.
type Registry struct {
	version string
	pools   []Pool
	slugs   []string
	tags    [][]*regexp.Regexp
	byAddr  map[string]int // address -> index of the first pool that lists it
}

// Attribution is the pool a block is attributed to and how.
type Attribution struct {
	Pool            string // slug, or Unknown
	Method          string // MethodAddress, MethodTag or MethodUnknown
	RegistryVersion string
}

// Parse reads a registry in the pools-v2.json format. version names it (e.g. a git commit of
// the registry); empty means "sha256:" + the first 12 hex digits of the content's digest.
// Errors name the entry and the rule it breaks.
func Parse(data []byte, version string) (*Registry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pools []Pool
	if err := dec.Decode(&pools); err != nil {
		return nil, fmt.Errorf("pool registry: %w", err)
	}
	if len(pools) == 0 {
		return nil, fmt.Errorf("pool registry: no pools")
	}
	if version == "" {
		sum := sha256.Sum256(data)
		version = "sha256:" + hex.EncodeToString(sum[:6])
	}
	r := &Registry{version: version, pools: pools, byAddr: map[string]int{}}
	for i, p := range pools {
		slug := Slug(p.Name)
		if slug == "" {
			return nil, fmt.Errorf("pool registry: entry %d (id %d): name %q has no [a-z0-9] characters", i, p.ID, p.Name)
		}
		// Two entries may share a slug (mempool's registry has "Bitcoin India" twice): both
		// attribute to the same pool.
		r.slugs = append(r.slugs, slug)
		var res []*regexp.Regexp
		for _, tag := range p.Tags {
			re, err := regexp.Compile("(?i)" + tag)
			if err != nil {
				return nil, fmt.Errorf("pool registry: entry %d (%s): tag %q: %w", i, p.Name, tag, err)
			}
			res = append(res, re)
		}
		r.tags = append(r.tags, res)
		for _, a := range p.Addresses {
			if _, taken := r.byAddr[a]; !taken {
				r.byAddr[a] = i
			}
		}
	}
	return r, nil
}

// LoadFile reads a registry file; version as for Parse.
func LoadFile(path, version string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pool registry: %w", err)
	}
	r, err := Parse(data, version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Load reads a registry from r; version as for Parse.
func Load(rd io.Reader, version string) (*Registry, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read pool registry: %w", err)
	}
	return Parse(data, version)
}

// Version is the registry version recorded with every attribution.
func (r *Registry) Version() string { return r.version }

// Len is the number of pools.
func (r *Registry) Len() int { return len(r.pools) }

// Slugs lists the pools' slugs in registry order (a new slice).
func (r *Registry) Slugs() []string { return append([]string(nil), r.slugs...) }

// Attribute applies estimate/METHOD.md §4.1 to a block's coinbase output addresses and the
// printable ASCII of its scriptSig.
func (r *Registry) Attribute(coinbaseAddresses []string, coinbaseASCII string) Attribution {
	best := -1
	for _, a := range coinbaseAddresses {
		if i, ok := r.byAddr[a]; ok && (best < 0 || i < best) {
			best = i
		}
	}
	if best >= 0 {
		return Attribution{Pool: r.slugs[best], Method: MethodAddress, RegistryVersion: r.version}
	}
	if coinbaseASCII != "" {
		for i, res := range r.tags {
			for _, re := range res {
				if re.MatchString(coinbaseASCII) {
					return Attribution{Pool: r.slugs[i], Method: MethodTag, RegistryVersion: r.version}
				}
			}
		}
	}
	return Attribution{Pool: Unknown, Method: MethodUnknown, RegistryVersion: r.version}
}

// PrintableASCII keeps the printable ASCII bytes (0x20–0x7e) of a coinbase scriptSig, the text
// pool tags are matched against.
func PrintableASCII(script []byte) string {
	b := make([]byte, 0, len(script))
	for _, c := range script {
		if c >= 0x20 && c <= 0x7e {
			b = append(b, c)
		}
	}
	return string(b)
}

// Getter fetches a URL's body (ingest.HTTPClient does, with retries and timeouts).
type Getter interface {
	Get(ctx context.Context, url string, header http.Header) ([]byte, error)
}

// Fetch loads a registry from a URL; version as for Parse.
func Fetch(ctx context.Context, g Getter, url, version string) (*Registry, error) {
	data, err := g.Get(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch pool registry: %w", err)
	}
	r, err := Parse(data, version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return r, nil
}
