package schemas

import (
	"strconv"
	"time"
)

// EpochBlocks is the number of blocks in a difficulty epoch.
const EpochBlocks = 2016

// DifficultyEpoch is one difficulty epoch (2016 blocks sharing one compact
// target), published on TopicDifficulty under the key StartHeight (decimal).
type DifficultyEpoch struct {
	// Schema is SchemaDifficultyEpoch ("hashatlas.difficulty-epoch.v1");
	// Encode fills it in.
	Schema string `json:"schema"`
	// Epoch is the epoch number, StartHeight / 2016 (epoch 416 starts at
	// height 838656).
	Epoch int64 `json:"epoch"`
	// StartHeight is the height of the epoch's first block, a multiple of
	// 2016, >= 0.
	StartHeight int64 `json:"start_height"`
	// Bits is the compact target of every block of the epoch, 8 lower-case
	// hex characters.
	Bits string `json:"bits"`
	// Difficulty is max_target / target for Bits (dimensionless, > 0),
	// agreeing with Bits to 1e-9 relative.
	Difficulty float64 `json:"difficulty"`
	// FirstBlockTime is the header time of the block at StartHeight, in UTC;
	// nil (omitted in JSON) when unknown, e.g. when replayed from a file of
	// epochs.
	FirstBlockTime *time.Time `json:"first_block_time,omitempty"`
	// Source names the collector that produced the message.
	Source string `json:"source"`
}

// SchemaName returns SchemaDifficultyEpoch.
func (DifficultyEpoch) SchemaName() string { return SchemaDifficultyEpoch }

// Topic returns TopicDifficulty.
func (DifficultyEpoch) Topic() string { return TopicDifficulty }

// Key returns the start height in decimal.
func (d DifficultyEpoch) Key() string { return strconv.FormatInt(d.StartHeight, 10) }

// Validate checks the rules documented on the fields.
func (d DifficultyEpoch) Validate() error {
	var fe fieldErrors
	fe.check("schema", checkSchemaField(d.Schema, SchemaDifficultyEpoch))
	switch {
	case d.StartHeight < 0 || d.StartHeight > MaxHeight:
		fe.add("start_height", "must be between 0 and "+strconv.FormatInt(MaxHeight, 10)+", found "+strconv.FormatInt(d.StartHeight, 10))
	case d.StartHeight%EpochBlocks != 0:
		fe.add("start_height", "must be a multiple of 2016, found "+strconv.FormatInt(d.StartHeight, 10))
	case d.Epoch != d.StartHeight/EpochBlocks:
		fe.add("epoch", "must be start_height/2016 = "+strconv.FormatInt(d.StartHeight/EpochBlocks, 10)+", found "+strconv.FormatInt(d.Epoch, 10))
	}
	c, reason := parseBits(d.Bits)
	fe.check("bits", reason)
	if reason == "" {
		fe.check("difficulty", checkDifficulty(d.Difficulty, c))
	}
	if d.FirstBlockTime != nil {
		fe.check("first_block_time", checkTime(*d.FirstBlockTime))
	}
	fe.check("source", checkName(d.Source))
	return fe.err()
}

var difficultyFields = fieldSet{
	names:    []string{"schema", "epoch", "start_height", "bits", "difficulty", "first_block_time", "source"},
	required: requiredAll(7, 5),
}

func (d *DifficultyEpoch) fieldSet() *fieldSet { return &difficultyFields }

func (d *DifficultyEpoch) decodeField(r *reader, i int) (err error) {
	switch i {
	case 0: // read and checked by decodeObject
		d.Schema = SchemaDifficultyEpoch
	case 1:
		d.Epoch, err = r.int64()
	case 2:
		d.StartHeight, err = r.int64()
	case 3:
		d.Bits, err = r.str()
	case 4:
		d.Difficulty, err = r.float64()
	case 5:
		d.FirstBlockTime, err = r.optTime()
	case 6:
		d.Source, err = r.str()
	}
	return err
}

func (d *DifficultyEpoch) appendJSON(buf []byte) []byte {
	// Fixed text, numbers and times take at most about this much.
	buf = grow(buf, 224+len(d.Bits)+len(d.Source))
	buf = append(buf, `{"schema":"`+SchemaDifficultyEpoch+`","epoch":`...)
	buf = strconv.AppendInt(buf, d.Epoch, 10)
	buf = append(buf, `,"start_height":`...)
	buf = strconv.AppendInt(buf, d.StartHeight, 10)
	buf = append(buf, `,"bits":`...)
	buf = appendVerbatim(buf, d.Bits)
	buf = append(buf, `,"difficulty":`...)
	buf = appendFloat(buf, d.Difficulty)
	if d.FirstBlockTime != nil {
		buf = append(buf, `,"first_block_time":`...)
		buf = appendTime(buf, *d.FirstBlockTime)
	}
	buf = append(buf, `,"source":`...)
	buf = appendString(buf, d.Source)
	return append(buf, '}')
}
