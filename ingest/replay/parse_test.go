package replay

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func dataDir() string {
	if d := os.Getenv("HASHATLAS_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

func TestReadBlocksPlainAndGzipWithOptionalBits(t *testing.T) {
	plain := "height,time_unix,pool_slug,bits_hex\n840000,1713571767,viabtc,1703e8b3\n840001,1713571900,unknown,1703e8b3\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(plain))
	_ = zw.Close()
	for name, input := range map[string][]byte{"plain": []byte(plain), "gzip": gz.Bytes()} {
		var rows []BlockRow
		err := ReadBlocks(bytes.NewReader(input), name, func(r BlockRow) error { rows = append(rows, r); return nil })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) != 2 || rows[0].Height != 840000 || rows[0].Pool != "viabtc" || rows[0].Bits != 0x1703e8b3 ||
			rows[0].Time.Unix() != 1713571767 || rows[1].Pool != "unknown" {
			t.Fatalf("%s: rows %+v", name, rows)
		}
	}
}

func TestReadBlocksNamesFileLineAndFault(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"bad header", "h,t,p\n", ":1: header"},
		{"missing field", "height,time_unix,pool_slug\n1,1231006505\n", ":2: 2 fields, want 3"},
		{"bad height", "height,time_unix,pool_slug\nx,1231006505,a\n", `:2: height "x"`},
		{"decreasing height", "height,time_unix,pool_slug\n5,1231006505,a\n5,1231006505,a\n", ":3: height 5 after 5"},
		{"time before genesis", "height,time_unix,pool_slug\n5,100,a\n", `:2: time_unix "100"`},
		{"empty pool", "height,time_unix,pool_slug\n5,1231006505,\n", ":2: pool_slug is empty"},
		{"short bits", "height,time_unix,pool_slug,bits_hex\n5,1231006505,a,1d00ff\n", `:2: bits_hex "1d00ff"`},
		{"empty file", "", ":1: empty file"},
	} {
		err := ReadBlocks(strings.NewReader(tc.input), "blocks.csv", func(BlockRow) error { return nil })
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "blocks.csv"+tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, "blocks.csv"+tc.want)
		}
	}
}

func TestReadEpochsRejectsMisalignedAndUnsorted(t *testing.T) {
	good := "epoch_start_height,bits_hex,difficulty\n0,1d00ffff,1\n2016,1d00ffff,1.0\n"
	eps, err := ReadEpochs(strings.NewReader(good), "e.csv")
	if err != nil || len(eps) != 2 || eps[1].StartHeight != 2016 {
		t.Fatalf("ReadEpochs = %+v, %v", eps, err)
	}
	for name, in := range map[string]string{
		"misaligned": "epoch_start_height,bits_hex,difficulty\n2000,1d00ffff,1\n",
		"unsorted":   "epoch_start_height,bits_hex,difficulty\n2016,1d00ffff,1\n0,1d00ffff,1\n",
		"zero diff":  "epoch_start_height,bits_hex,difficulty\n0,1d00ffff,0\n",
		"no rows":    "epoch_start_height,bits_hex,difficulty\n",
	} {
		if _, err := ReadEpochs(strings.NewReader(in), "e.csv"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if e, ok := EpochAt(eps, 4031); !ok || e.StartHeight != 2016 {
		t.Errorf("EpochAt(4031) = %+v, %v", e, ok)
	}
	if _, ok := EpochAt(eps, 4032); ok {
		t.Error("EpochAt past the last epoch's end found one")
	}
}

// TestSharedDataParsesCompletely reads the reference history: every block from 664,063 to
// 946,236 without gaps, each inside a known difficulty epoch.
func TestSharedDataParsesCompletely(t *testing.T) {
	ef, err := os.Open(filepath.Join(dataDir(), "difficulty_epochs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	eps, err := ReadEpochs(ef, "difficulty_epochs.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 141 {
		t.Fatalf("%d epochs, want 141", len(eps))
	}
	bf, err := os.Open(filepath.Join(dataDir(), "blocks_2021_2026.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	n, first, last := 0, int64(-1), int64(-1)
	err = ReadBlocks(bf, "blocks_2021_2026.csv.gz", func(r BlockRow) error {
		if last >= 0 && r.Height != last+1 {
			t.Fatalf("gap after height %d", last)
		}
		if _, ok := EpochAt(eps, r.Height); !ok {
			t.Fatalf("height %d has no epoch", r.Height)
		}
		if first < 0 {
			first = r.Height
		}
		last = r.Height
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 282174 || first != 664063 || last != 946236 {
		t.Fatalf("%d blocks %d..%d, want 282174 blocks 664063..946236", n, first, last)
	}
}

func FuzzReadBlocks(f *testing.F) {
	f.Add([]byte("height,time_unix,pool_slug\n664063,1609547186,f2pool\n"))
	f.Add([]byte("height,time_unix,pool_slug,bits_hex\n1,1231006505,a,1d00ffff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ReadBlocks(bytes.NewReader(data), "fuzz", func(BlockRow) error { return nil })
	})
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o644) }
