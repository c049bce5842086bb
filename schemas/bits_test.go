package schemas

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
)

// TestWorkAndDifficultyFromBits checks the conversions against values
// published elsewhere: the genesis block's work 0x100010001 (its chainwork),
// block 840,000's difficulty as getblock reports it, and the epoch 840,672
// difficulty in ../shared/data/DATA.md.
func TestWorkAndDifficultyFromBits(t *testing.T) {
	tests := []struct {
		bits       string
		work       string
		difficulty float64
	}{
		{"1d00ffff", "4295032833", 1},
		{"17034219", "371041696979166003650763", 86388558925171.02},
		{"170331db", "", 88104191118793.16},
	}
	for _, tt := range tests {
		if tt.work != "" {
			if got, err := WorkFromBits(tt.bits); err != nil || got != tt.work {
				t.Errorf("WorkFromBits(%s) = %s, %v; want %s", tt.bits, got, err, tt.work)
			}
		}
		if got, err := DifficultyFromBits(tt.bits); err != nil || got != tt.difficulty {
			t.Errorf("DifficultyFromBits(%s) = %v, %v; want %v", tt.bits, got, err, tt.difficulty)
		}
	}
	for _, bad := range []string{"", "1d00fff", "1D00FFFF", "1d80ffff", "1d000000", "21010000"} {
		if _, err := WorkFromBits(bad); err == nil {
			t.Errorf("WorkFromBits(%q) succeeded", bad)
		}
		if _, err := DifficultyFromBits(bad); err == nil {
			t.Errorf("DifficultyFromBits(%q) succeeded", bad)
		}
	}
}

// TestWorkRuleIsExact proves that the allocation-free work check accepts
// exactly floor(2^256/(target+1)) and nothing one unit off, across the whole
// range of compact targets (including exponents below 3, where the mantissa
// is shifted right).
func TestWorkRuleIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	one := big.NewInt(1)
	checked := 0
	for checked < 5000 {
		bits := fmt.Sprintf("%02x%06x", rng.IntN(33), rng.IntN(0x800000))
		c, reason := parseBits(bits)
		if reason != "" {
			continue
		}
		checked++
		work, err := WorkFromBits(bits)
		if err != nil {
			t.Fatal(err)
		}
		if r := checkWork(work, c); r != "" {
			t.Fatalf("bits %s: exact work %s rejected: %s", bits, work, r)
		}
		w, _ := new(big.Int).SetString(work, 10)
		for _, off := range []*big.Int{new(big.Int).Add(w, one), new(big.Int).Sub(w, one)} {
			if off.Sign() <= 0 {
				continue
			}
			if r := checkWork(off.String(), c); r == "" {
				t.Fatalf("bits %s: work %s (exact %s) accepted", bits, off, work)
			}
		}
	}
}
