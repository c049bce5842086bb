package simulate

import (
	"fmt"
	"math/big"
)

// Consensus constants of Bitcoin's difficulty adjustment (mainnet).
const (
	// TargetSpacing is the intended time between blocks, in seconds.
	TargetSpacing = 600
	// EpochBlocks is the number of blocks between retargets.
	EpochBlocks = 2016
	// TargetTimespan is the intended length of an epoch, 2016 × 600 s (two weeks).
	TargetTimespan = EpochBlocks * TargetSpacing
	// PowLimitBits is the compact encoding of the highest allowed target.
	PowLimitBits uint32 = 0x1d00ffff
)

// powLimit is mainnet's powLimit, 2^224 − 1 (0x00000000ffff…ff); its compact encoding rounds it
// down to the target of PowLimitBits.
var powLimit = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 224), big.NewInt(1))

// TargetFromCompact decodes compact bits into the target mantissa × 256^(exponent−3), as Bitcoin
// Core's arith_uint256::SetCompact does. Bits with the sign bit set or a zero mantissa, which no
// valid header carries, are an error.
func TargetFromCompact(bits uint32) (*big.Int, error) {
	exp := uint(bits >> 24)
	mant := bits & 0x007fffff
	if bits&0x00800000 != 0 {
		return nil, fmt.Errorf("compact bits %08x: the sign bit is set (a negative target)", bits)
	}
	t := new(big.Int)
	if exp <= 3 {
		t.SetUint64(uint64(mant >> (8 * (3 - exp))))
	} else {
		t.SetUint64(uint64(mant))
		t.Lsh(t, 8*(exp-3))
	}
	if t.Sign() == 0 {
		return nil, fmt.Errorf("compact bits %08x: zero target", bits)
	}
	if t.BitLen() > 256 {
		return nil, fmt.Errorf("compact bits %08x: target overflows 256 bits", bits)
	}
	return t, nil
}

// CompactFromTarget encodes a positive target below 2^256 in compact form with Bitcoin Core's
// rounding (arith_uint256::GetCompact): the exponent is the target's length in bytes and the
// mantissa its three most significant bytes, truncated; when the top mantissa byte would set
// bit 0x00800000 (the sign bit) the mantissa is shifted one byte right and the exponent grows by
// one. Decoding the result gives the largest target of that precision that is <= t.
// Reference: https://github.com/bitcoin/bitcoin/blob/master/src/arith_uint256.cpp (GetCompact).
func CompactFromTarget(t *big.Int) uint32 {
	if t.Sign() <= 0 {
		panic("simulate: CompactFromTarget of a non-positive target")
	}
	size := uint((t.BitLen() + 7) / 8)
	var mant uint32
	if size <= 3 {
		mant = uint32(t.Uint64() << (8 * (3 - size)))
	} else {
		mant = uint32(new(big.Int).Rsh(t, 8*(size-3)).Uint64())
	}
	if mant&0x00800000 != 0 {
		mant >>= 8
		size++
	}
	return mant | uint32(size)<<24
}

// NextBits is Bitcoin's retarget rule (CalculateNextWorkRequired in Bitcoin Core's pow.cpp,
// https://github.com/bitcoin/bitcoin/blob/master/src/pow.cpp): given the bits of the epoch that
// just ended and the header times of its first and last block, the actual timespan
// last − first (over 2015 intervals: Bitcoin's off-by-one) is clamped to [T/4, 4T] with
// T = TargetTimespan, the old target is multiplied by it and divided by T in integer
// arithmetic, capped at the pow limit, and encoded with CompactFromTarget.
func NextBits(bits uint32, firstTime, lastTime int64) (uint32, error) {
	old, err := TargetFromCompact(bits)
	if err != nil {
		return 0, err
	}
	span := lastTime - firstTime
	span = max(span, TargetTimespan/4)
	span = min(span, TargetTimespan*4)
	t := new(big.Int).Mul(old, big.NewInt(span))
	t.Quo(t, big.NewInt(TargetTimespan))
	if t.Cmp(powLimit) > 0 {
		t.Set(powLimit)
	}
	if t.Sign() == 0 {
		// Only reachable from a target below 4: keep the smallest representable target.
		t.SetInt64(1)
	}
	return CompactFromTarget(t), nil
}

// bitsForHashrate returns the compact target at which a network of h hashes per second finds a
// block every TargetSpacing seconds on average: target = 2^256 / (h · 600) − 1 (so that the work
// 2^256 / (target + 1) is h · 600), at most the pow limit.
func bitsForHashrate(h float64) uint32 {
	work, _ := new(big.Float).SetFloat64(h * TargetSpacing).Int(nil)
	if work.Sign() <= 0 {
		return PowLimitBits
	}
	t := new(big.Int).Lsh(big.NewInt(1), 256)
	t.Quo(t, work)
	t.Sub(t, big.NewInt(1))
	if t.Cmp(powLimit) > 0 || t.Sign() <= 0 {
		return PowLimitBits
	}
	return CompactFromTarget(t)
}

// bitsHex formats compact bits as the 8 lower-case hex characters of schemas.Block.Bits.
func bitsHex(bits uint32) string { return fmt.Sprintf("%08x", bits) }
