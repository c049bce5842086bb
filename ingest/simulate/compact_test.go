package simulate

import (
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/hashatlas/hashatlas/ingest/replay"
	"github.com/hashatlas/hashatlas/schemas"
)

func hexInt(t testing.TB, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex %q", s)
	}
	return v
}

func TestCompactFromTargetFollowsBitcoinCoreRounding(t *testing.T) {
	cases := []struct {
		name   string
		target string // hex
		want   uint32
	}{
		{"one byte is shifted to the top of the mantissa", "12", 0x01120000},
		{"a top byte of 0x80 would set the sign bit, so the exponent grows", "80", 0x02008000},
		{"three bytes fit exactly", "123456", 0x03123456},
		{"lower bytes are truncated, not rounded", "12345678", 0x04123456},
		{"truncation with the sign-bit shift", "92345678", 0x05009234},
		{"the pow limit 2^224-1 encodes as 1d00ffff", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff", PowLimitBits},
		{"the difficulty-1 target itself", "ffff0000000000000000000000000000000000000000000000000000", PowLimitBits},
		{"a 2024 mainnet target (block 840000, bits 1703e8b3)", "3e8b30000000000000000000000000000000000000000", 0x1703e8b3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompactFromTarget(hexInt(t, tc.target)); got != tc.want {
				t.Fatalf("CompactFromTarget(0x%s) = %08x, want %08x", tc.target, got, tc.want)
			}
		})
	}
}

func TestTargetFromCompactRejectsWhatNoHeaderCarries(t *testing.T) {
	for _, bits := range []uint32{0x04923456 /* sign bit */, 0x03000000 /* zero */, 0x01003456 /* shifted to zero */, 0x22010000 /* > 2^256 */} {
		if _, err := TargetFromCompact(bits); err == nil {
			t.Errorf("TargetFromCompact(%08x) accepted", bits)
		}
	}
}

// TestCompactRoundTripsWithTheSchemasDecoders proves that the encoder and the schemas package
// agree: real mainnet bits decode and re-encode to themselves, and bits encoded from a target
// give, through schemas.WorkFromBits and DifficultyFromBits, the work and difficulty of the
// encoded (truncated) target, within compact precision of the original.
func TestCompactRoundTripsWithTheSchemasDecoders(t *testing.T) {
	maxTarget := hexInt(t, "ffff0000000000000000000000000000000000000000000000000000")
	for _, hex := range []string{"1d00ffff", "1b0404cb", "1903a30c", "180526fd", "170e2632", "17034219", "1703e8b3", "17019d3e"} {
		v, _ := strconv.ParseUint(hex, 16, 32)
		target, err := TargetFromCompact(uint32(v))
		if err != nil {
			t.Fatal(err)
		}
		if got := bitsHex(CompactFromTarget(target)); got != hex {
			t.Errorf("bits %s decode and re-encode to %s", hex, got)
		}
		// Perturb the target below its next representable value: it must encode to the same bits.
		exp := uint(v >> 24)
		step := new(big.Int).Lsh(big.NewInt(1), 8*(exp-3))
		bumped := new(big.Int).Add(target, new(big.Int).Sub(step, big.NewInt(1)))
		if got := bitsHex(CompactFromTarget(bumped)); got != hex {
			t.Errorf("target just below the next step of %s encodes to %s", hex, got)
		}
		work, err := schemas.WorkFromBits(hex)
		if err != nil {
			t.Fatal(err)
		}
		want := new(big.Int).Quo(new(big.Int).Lsh(big.NewInt(1), 256), new(big.Int).Add(target, big.NewInt(1)))
		if work != want.String() {
			t.Errorf("bits %s: schemas work %s, 2^256/(target+1) = %s", hex, work, want)
		}
		d, err := schemas.DifficultyFromBits(hex)
		if err != nil {
			t.Fatal(err)
		}
		wantD, _ := new(big.Float).Quo(new(big.Float).SetInt(maxTarget), new(big.Float).SetInt(target)).Float64()
		if math.Abs(d-wantD) > 1e-12*wantD {
			t.Errorf("bits %s: schemas difficulty %v, max_target/target %v", hex, d, wantD)
		}
	}
	for _, h := range []float64{1e7, 1e15, 1.5e20, 6.04e20, 1e21, 3e22} {
		hex := bitsHex(bitsForHashrate(h))
		work, err := schemas.WorkFromBits(hex)
		if err != nil {
			t.Fatalf("hashrate %g: bits %s: %v", h, hex, err)
		}
		wf, _ := strconv.ParseFloat(work, 64)
		// The target is truncated to 15-16 significant bits, so the work is at most 2^-15 above h·600.
		if r := wf / (h * TargetSpacing); r < 1-1e-12 || r > 1+1.0/(1<<15) {
			t.Errorf("hashrate %g: bits %s carry work %s = %v × h·600, want within [1, 1+2^-15]", h, hex, work, r)
		}
		d, _ := schemas.DifficultyFromBits(hex)
		if r := d * math.Ldexp(1, 32) / (h * TargetSpacing); math.Abs(r-1) > 1e-4 {
			t.Errorf("hashrate %g: difficulty %v is not h·600/2^32 (ratio %v)", h, d, r)
		}
	}
	if got := bitsForHashrate(1); got != PowLimitBits {
		t.Errorf("a hashrate below difficulty 1 gets bits %08x, want the pow limit", got)
	}
}

func TestNextBitsClampsTheTimespanAndCapsAtThePowLimit(t *testing.T) {
	const bits = 0x17034219
	old, _ := TargetFromCompact(bits)
	scaled := func(num, den int64) uint32 {
		x := new(big.Int).Mul(old, big.NewInt(num))
		return CompactFromTarget(x.Quo(x, big.NewInt(den)))
	}
	cases := []struct {
		name string
		span int64
		want uint32
	}{
		{"exactly two weeks keeps the target", TargetTimespan, bits},
		{"one week halves the target", TargetTimespan / 2, scaled(1, 2)},
		{"one day is clamped to a quarter", 86400, scaled(1, 4)},
		{"a zero or negative span is clamped to a quarter", -5000, scaled(1, 4)},
		{"ten weeks is clamped to four times", 5 * TargetTimespan, scaled(4, 1)},
		{"an odd span multiplies then divides in integers", 1209599, scaled(1209599, TargetTimespan)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NextBits(bits, 1_700_000_000, 1_700_000_000+tc.span)
			if err != nil || got != tc.want {
				t.Fatalf("NextBits = %08x, %v; want %08x", got, err, tc.want)
			}
		})
	}
	if got, _ := NextBits(PowLimitBits, 0, 4*TargetTimespan); got != PowLimitBits {
		t.Errorf("a slow epoch at the pow limit gives %08x, want it to stay at 1d00ffff", got)
	}
	if got, _ := NextBits(0x1d00d86a, 0, 4*TargetTimespan); got != PowLimitBits {
		t.Errorf("quadrupling 1d00d86a gives %08x, want the pow limit", got)
	}
}

func sharedDataDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("HASHATLAS_DATA_DIR")
	if d == "" {
		d = filepath.Join("..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(d, "blocks_2021_2026.csv.gz")); err != nil {
		t.Fatalf("the shared data is missing (set HASHATLAS_DATA_DIR): %v", err)
	}
	return d
}

// TestNextBitsReproducesMainnetRetargets recomputes every retarget of 2021-2026 from the header
// times of the first and last block of each epoch in the shared block history and the epoch's
// bits, and requires the next epoch's bits exactly.
func TestNextBitsReproducesMainnetRetargets(t *testing.T) {
	dir := sharedDataDir(t)
	ef, err := os.Open(filepath.Join(dir, "difficulty_epochs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	epochs, err := replay.ReadEpochs(ef, "difficulty_epochs.csv")
	if err != nil {
		t.Fatal(err)
	}
	bf, err := os.Open(filepath.Join(dir, "blocks_2021_2026.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	times := map[int64]int64{} // first and last height of every epoch → header time
	err = replay.ReadBlocks(bf, "blocks_2021_2026.csv.gz", func(r replay.BlockRow) error {
		if m := r.Height % EpochBlocks; m == 0 || m == EpochBlocks-1 {
			times[r.Height] = r.Time.Unix()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i := 0; i+1 < len(epochs); i++ {
		e := epochs[i]
		first, ok1 := times[e.StartHeight]
		last, ok2 := times[e.StartHeight+EpochBlocks-1]
		if !ok1 || !ok2 {
			continue
		}
		got, err := NextBits(e.Bits, first, last)
		if err != nil {
			t.Fatal(err)
		}
		if got != epochs[i+1].Bits {
			t.Errorf("epoch %d (bits %08x, span %d s): NextBits = %08x, the chain has %08x", e.StartHeight, e.Bits, last-first, got, epochs[i+1].Bits)
		}
		checked++
	}
	if checked < 135 {
		t.Fatalf("only %d retargets checked, want the ~139 of 2021-2026", checked)
	}
}

// FuzzCompactFromTarget proves for any target up to the pow limit that the encoding is
// canonical (sign bit clear), decodes to the largest representable target not above it, and is
// accepted by the schemas package.
func FuzzCompactFromTarget(f *testing.F) {
	for _, s := range []string{"01", "80", "7fffff", "800000", "12345678", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "3e8b30000000000000000000000000000000000000000"} {
		b, _ := new(big.Int).SetString(s, 16)
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 28 {
			raw = raw[:28]
		}
		target := new(big.Int).SetBytes(raw)
		if target.Sign() == 0 {
			return
		}
		c := CompactFromTarget(target)
		if c&0x00800000 != 0 {
			t.Fatalf("target %x encodes to %08x with the sign bit set", target, c)
		}
		dec, err := TargetFromCompact(c)
		if err != nil {
			t.Fatalf("target %x encodes to %08x which does not decode: %v", target, c, err)
		}
		exp := uint(c >> 24)
		step := big.NewInt(1)
		if exp > 3 {
			step.Lsh(step, 8*(exp-3))
		}
		diff := new(big.Int).Sub(target, dec)
		if diff.Sign() < 0 || diff.Cmp(step) >= 0 {
			t.Fatalf("target %x encodes to %08x = %x: not the truncation", target, c, dec)
		}
		if _, err := schemas.WorkFromBits(bitsHex(c)); err != nil {
			t.Fatalf("schemas refuses bits %08x of target %x: %v", c, target, err)
		}
	})
}
