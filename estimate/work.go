package estimate

import (
	"fmt"
	"math"
	"math/big"
)

// MaxTargetBits is the compact form of the largest target (difficulty 1), 0x1d00ffff.
const MaxTargetBits uint32 = 0x1d00ffff

var (
	two256    = new(big.Int).Lsh(big.NewInt(1), 256)
	maxTarget = mustTarget(MaxTargetBits)
)

func mustTarget(bits uint32) *big.Int {
	t, err := Target(bits)
	if err != nil {
		panic(err)
	}
	return t
}

// Target expands a compact nBits value: target = mantissa × 256^(exponent−3). It refuses the
// encodings consensus rejects: a negative sign bit, a zero target, or one above 2^256.
func Target(bits uint32) (*big.Int, error) {
	exponent := uint(bits >> 24)
	mantissa := int64(bits & 0x007fffff)
	if bits&0x00800000 != 0 {
		return nil, fmt.Errorf("bits %08x: negative target", bits)
	}
	t := big.NewInt(mantissa)
	if exponent <= 3 {
		t.Rsh(t, 8*(3-exponent))
	} else {
		t.Lsh(t, 8*(exponent-3))
	}
	if t.Sign() == 0 {
		return nil, fmt.Errorf("bits %08x: zero target", bits)
	}
	if t.Cmp(two256) >= 0 {
		return nil, fmt.Errorf("bits %08x: target overflows 256 bits", bits)
	}
	return t, nil
}

// Difficulty is max_target / target for compact bits, as a float64.
func Difficulty(bits uint32) (float64, error) {
	t, err := Target(bits)
	if err != nil {
		return 0, err
	}
	q, _ := new(big.Rat).SetFrac(maxTarget, t).Float64()
	return q, nil
}

// Work is the expected number of hashes to find a block at these bits, exactly
// 2^256 / (target + 1) (integer division, as Bitcoin Core computes chainwork).
func Work(bits uint32) (*big.Int, error) {
	t, err := Target(bits)
	if err != nil {
		return nil, err
	}
	return new(big.Int).Quo(two256, new(big.Int).Add(t, big.NewInt(1))), nil
}

// WorkFloat is Work as a float64 (exact to float64 precision: relative error below 1e-15).
func WorkFloat(bits uint32) (float64, error) {
	w, err := Work(bits)
	if err != nil {
		return 0, err
	}
	f, _ := new(big.Float).SetInt(w).Float64()
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("bits %08x: work overflows float64", bits)
	}
	return f, nil
}
