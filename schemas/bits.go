package schemas

import (
	"errors"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// compact is a decoded nBits value: target = mantissa × 256^(exponent−3).
type compact struct {
	mantissa uint32 // 23 bits; the sign bit is rejected
	exponent int
}

// parseBits reads the 8 lower-case hex characters of a compact target and
// checks that it encodes a positive target below 2^256.
func parseBits(s string) (compact, string) {
	if len(s) != 8 || !isLowerHex(s) {
		return compact{}, "must be 8 lower-case hex characters (compact target, e.g. \"17034219\"), found " + strconv.Quote(s)
	}
	v, _ := strconv.ParseUint(s, 16, 32)
	c := compact{mantissa: uint32(v) & 0x007fffff, exponent: int(v >> 24)}
	switch {
	case v&0x00800000 != 0:
		return compact{}, "is a negative compact target (sign bit set): " + s
	case c.exponent > 32:
		return compact{}, "overflows 256 bits: " + s
	case c.exponent <= 3 && c.mantissa>>(8*uint(3-c.exponent)) == 0,
		c.mantissa == 0:
		return compact{}, "encodes a zero target: " + s
	}
	return c, ""
}

// difficulty is max_target / target with max_target from bits 0x1d00ffff,
// computed as Bitcoin Core's GetDifficulty does: 0xffff / mantissa, scaled
// by 256^(29 − exponent) (an exact power-of-two scaling).
func (c compact) difficulty() float64 {
	return math.Ldexp(float64(0xffff)/float64(c.mantissa), 8*(29-c.exponent))
}

// difficultyTolerance is the relative difference allowed between a
// message's difficulty and the one its bits imply. Sources print difficulty
// with a few decimals (86388558925171.02), far inside it; a difficulty taken
// from another epoch or computed from the wrong maximum target is far outside.
const difficultyTolerance = 1e-9

// checkDifficulty requires d to be the difficulty that c implies.
func checkDifficulty(d float64, c compact) string {
	if r := checkFinite(d); r != "" {
		return r
	}
	if d <= 0 {
		return "must be > 0, found " + fmtFloat(d)
	}
	want := c.difficulty()
	if math.Abs(d-want) > difficultyTolerance*want {
		return "is " + fmtFloat(d) + " but bits imply " + fmtFloat(want)
	}
	return ""
}

// checkWork requires w to be the decimal digits of exactly
// 2^256/(target+1) (rounded down) for the target of c. It catches
// approximations such as difficulty × 2^32 (off by 1.5e-5 relative) and
// float64 arithmetic printed as an integer (off in the last digits), without
// big integers or allocations: it checks W·(T+1) <= 2^256 < (W+1)·(T+1) in
// fixed-width arithmetic.
func checkWork(w string, c compact) string {
	if w == "" {
		return "is required (decimal digits of 2^256/(target+1))"
	}
	if v, ok := verifiedWork.Load(c); ok && v.(string) == w {
		return "" // the same bits and work were verified before (2016 blocks share them)
	}
	wv, ok := parseU320(w)
	if !ok {
		return "must be a positive decimal integer without leading zeros, found " + strconv.Quote(truncate(w))
	}
	if !exactWork(wv, c) {
		want, _ := WorkFromBits(c.String())
		return "is " + w + " but 2^256/(target+1) for the bits is " + want
	}
	if verifiedCount.Add(1) <= maxVerifiedWork {
		verifiedWork.Store(c, w)
	}
	return ""
}

// verifiedWork remembers work values already checked against their bits (compact → string).
// It is a cache of a pure function, bounded by maxVerifiedWork entries: every block of a
// difficulty epoch carries the same bits and work, so validating a stream of blocks checks the
// exact arithmetic once per epoch.
var (
	verifiedWork    sync.Map
	verifiedCount   atomic.Int64
	maxVerifiedWork int64 = 4096
)

// u320 is an unsigned 320-bit integer, little-endian 64-bit limbs: enough
// for 2^256 times a 23-bit mantissa and a margin.
type u320 [5]uint64

// parseU320 reads 1 to 78 decimal digits without a leading zero.
func parseU320(s string) (u320, bool) {
	var x u320
	if len(s) == 0 || len(s) > 78 || s[0] == '0' {
		return x, false
	}
	for len(s) > 0 {
		n := min(len(s), 19)
		var chunk, scale uint64 = 0, 1
		for i := 0; i < n; i++ {
			d := s[i]
			if d < '0' || d > '9' {
				return x, false
			}
			chunk = chunk*10 + uint64(d-'0')
			scale *= 10
		}
		s = s[n:]
		x = x.mulAdd(scale, chunk)
	}
	return x, true
}

// mulAdd returns x·m + a (the caller keeps it below 2^320).
func (x u320) mulAdd(m, a uint64) u320 {
	carry := a
	for i := range x {
		hi, lo := bits.Mul64(x[i], m)
		var c uint64
		x[i], c = bits.Add64(lo, carry, 0)
		carry = hi + c
	}
	return x
}

func (x u320) add(y u320) u320 {
	var c uint64
	for i := range x {
		x[i], c = bits.Add64(x[i], y[i], c)
	}
	return x
}

// shl returns x·2^k for k < 320 (bits shifted out are lost; callers check
// bitLen first).
func (x u320) shl(k int) u320 {
	var r u320
	limbs, sh := k/64, uint(k%64)
	for i := len(x) - 1; i >= limbs; i-- {
		r[i] = x[i-limbs] << sh
		if sh > 0 && i-limbs-1 >= 0 {
			r[i] |= x[i-limbs-1] >> (64 - sh)
		}
	}
	return r
}

func (x u320) bitLen() int {
	for i := len(x) - 1; i >= 0; i-- {
		if x[i] != 0 {
			return 64*i + bits.Len64(x[i])
		}
	}
	return 0
}

// cmp2p256 compares x with 2^256: -1, 0 or +1.
func (x u320) cmp2p256() int {
	switch {
	case x[4] > 1:
		return 1
	case x[4] == 0:
		return -1
	case x[0]|x[1]|x[2]|x[3] != 0:
		return 1
	default:
		return 0
	}
}

// exactWork reports whether w = floor(2^256 / (T+1)) for the target T of c,
// that is w·(T+1) <= 2^256 < w·(T+1) + (T+1).
func exactWork(w u320, c compact) bool {
	// T = tm · 2^k exactly.
	tm, k := uint64(c.mantissa), 0
	if c.exponent <= 3 {
		tm >>= 8 * uint(3-c.exponent)
	} else {
		k = 8 * (c.exponent - 3)
	}
	wt := w.mulAdd(tm, 0) // w·tm < 2^(260+23)
	if wt.bitLen()+k > 300 {
		return false // far above 2^256
	}
	q := wt.shl(k).add(w) // w·(T+1)
	if q.cmp2p256() > 0 {
		return false
	}
	t1 := u320{tm}.shl(k).add(u320{1}) // T+1
	return q.add(t1).cmp2p256() > 0
}

// String returns the bits as 8 lower-case hex characters.
func (c compact) String() string {
	v := uint64(c.exponent)<<24 | uint64(c.mantissa)
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", 8-len(s)) + s
}

// WorkFromBits returns the expected number of hashes behind one block with
// compact target bits (8 lower-case hex characters): 2^256 / (target + 1),
// exactly, as decimal digits. This is the value of Block.Work.
func WorkFromBits(bits string) (string, error) {
	c, reason := parseBits(bits)
	if reason != "" {
		return "", errors.New("bits " + reason)
	}
	target := big.NewInt(int64(c.mantissa))
	if c.exponent <= 3 {
		target.Rsh(target, uint(8*(3-c.exponent)))
	} else {
		target.Lsh(target, uint(8*(c.exponent-3)))
	}
	target.Add(target, big.NewInt(1))
	work := new(big.Int).Lsh(big.NewInt(1), 256)
	work.Quo(work, target)
	return work.String(), nil
}

// DifficultyFromBits returns max_target / target for compact target bits,
// where max_target is the target of bits 1d00ffff, computed in float64 the
// way Bitcoin Core's getdifficulty does. This is the value of
// Block.Difficulty and DifficultyEpoch.Difficulty.
func DifficultyFromBits(bits string) (float64, error) {
	c, reason := parseBits(bits)
	if reason != "" {
		return 0, errors.New("bits " + reason)
	}
	return c.difficulty(), nil
}
