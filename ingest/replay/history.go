package replay

import (
	"fmt"
	"os"
)

// ReadHistory reads a block history file and its difficulty epochs file (the files the file
// source replays) and calls fn for each block, in file order, with the epoch it lies in. A
// block in no epoch of the epochs file, or whose own bits differ from its epoch's, is an
// error naming both files; fn's error stops the read and is returned.
func ReadHistory(blocksFile, epochsFile string, fn func(BlockRow, EpochRow) error) error {
	ef, err := os.Open(epochsFile)
	if err != nil {
		return fmt.Errorf("open the epochs file: %w", err)
	}
	defer ef.Close()
	epochs, err := ReadEpochs(ef, epochsFile)
	if err != nil {
		return err
	}
	bf, err := os.Open(blocksFile)
	if err != nil {
		return fmt.Errorf("open the blocks file: %w", err)
	}
	defer bf.Close()
	return ReadBlocks(bf, blocksFile, func(r BlockRow) error {
		e, ok := EpochAt(epochs, r.Height)
		if !ok {
			return fmt.Errorf("%s: block %d lies in no epoch of %s", blocksFile, r.Height, epochsFile)
		}
		if r.Bits != 0 && r.Bits != e.Bits {
			return fmt.Errorf("%s: block %d has bits %08x but its epoch %d in %s has %08x", blocksFile, r.Height, r.Bits, e.StartHeight, epochsFile, e.Bits)
		}
		return fn(r, e)
	})
}
