package replay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeHistory(t *testing.T, blocks, epochs string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	b, e := filepath.Join(dir, "blocks.csv"), filepath.Join(dir, "epochs.csv")
	if err := os.WriteFile(b, []byte(blocks), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e, []byte(epochs), 0o644); err != nil {
		t.Fatal(err)
	}
	return b, e
}

func TestReadHistoryGivesEachBlockItsEpoch(t *testing.T) {
	epochs := "epoch_start_height,bits_hex,difficulty\n838656,1703e8b3,1\n840672,17034219,2\n"
	b, e := writeHistory(t, "height,time_unix,pool_slug\n840671,1713571767,viabtc\n840672,1713571900,unknown\n", epochs)
	var got []string
	err := ReadHistory(b, e, func(r BlockRow, ep EpochRow) error {
		got = append(got, fmt.Sprintf("%s@%08x", r.Pool, ep.Bits))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "viabtc@1703e8b3 unknown@17034219" {
		t.Fatalf("got %v", got)
	}

	// A block outside every epoch, or with bits other than its epoch's, names both files.
	for _, blocks := range []string{
		"height,time_unix,pool_slug\n842688,1713571767,viabtc\n",
		"height,time_unix,pool_slug,bits_hex\n840671,1713571767,viabtc,17034219\n",
	} {
		b, e := writeHistory(t, blocks, epochs)
		err := ReadHistory(b, e, func(BlockRow, EpochRow) error { return nil })
		if err == nil || !strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), e) {
			t.Errorf("blocks %q: error %v, want one naming %s and %s", blocks, err, b, e)
		}
	}

	// fn's error stops the read and is returned.
	stop := errors.New("stop")
	n := 0
	if err := ReadHistory(b, e, func(BlockRow, EpochRow) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("error %v after %d blocks, want stop after 1", err, n)
	}
}
