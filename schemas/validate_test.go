package schemas

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func blockWith(f func(*Block)) *Block                     { m := goldenBlock(); f(m); return m }
func epochWith(f func(*DifficultyEpoch)) *DifficultyEpoch { m := goldenEpoch(); f(m); return m }
func poolStatsWith(f func(*PoolStats)) *PoolStats         { m := goldenPoolStats(); f(m); return m }
func gridWith(f func(*GridObservation)) *GridObservation {
	m := goldenGrid()
	f(m)
	return m
}
func estimateWith(f func(*Estimate)) *Estimate       { m := goldenEstimate(); f(m); return m }
func deadLetterWith(f func(*DeadLetter)) *DeadLetter { m := goldenDeadLetter(); f(m); return m }

// fieldsOf returns the Field of every *FieldError in err, in order.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var fields []string
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is not a *FieldError", e, e)
		}
		if fe.Reason == "" {
			t.Errorf("field %s: empty reason", fe.Field)
		}
		fields = append(fields, fe.Field)
	}
	return fields
}

// workApproxFromDifficulty is the common mistake the work rule catches:
// difficulty × 2^32 instead of 2^256/(target+1).
func workApproxFromDifficulty(d float64) string {
	f := new(big.Float).SetFloat64(d)
	f.Mul(f, new(big.Float).SetFloat64(1<<32))
	i, _ := f.Int(nil)
	return i.String()
}

var plus2 = time.FixedZone("UTC+2", 2*3600)

// TestValidateRejects proves that every rule is enforced and that the error
// names exactly the field that breaks it (as a JSON path).
func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want []string
	}{
		// Block.
		{"a negative height is rejected", blockWith(func(b *Block) { b.Height = -1 }), []string{"height"}},
		{"a height beyond the UInt32 column is rejected", blockWith(func(b *Block) { b.Height = 9e18 }), []string{"height"}},
		{"a header time before the genesis block is rejected", blockWith(func(b *Block) { b.Time = utc("2009-01-03T18:15:04Z") }), []string{"time"}},
		{"a header time more than the allowance past now is rejected", blockWith(func(b *Block) { b.Time = time.Now().Add(FutureAllowance + time.Minute) }), []string{"time"}},
		{"a header time in 2150 (past the DateTime column) is rejected", blockWith(func(b *Block) { b.Time = utc("2150-01-01T00:00:00Z") }), []string{"time"}},
		{"a transaction count beyond the UInt32 column is rejected", blockWith(func(b *Block) { b.TxCount = 1 << 32 }), []string{"tx_count"}},
		{"a hash that is not 64 hex characters is rejected", blockWith(func(b *Block) { b.Hash = "abc" }), []string{"hash"}},
		{"an upper-case hash is rejected", blockWith(func(b *Block) { b.Hash = strings.ToUpper(b.Hash) }), []string{"hash"}},
		{"an observed block without hash is rejected", blockWith(func(b *Block) { b.Hash = "" }), []string{"hash"}},
		{"an observed block above height 0 without previous hash is rejected", blockWith(func(b *Block) { b.PrevHash = "" }), []string{"prev_hash"}},
		{"a malformed previous hash is rejected", blockWith(func(b *Block) { b.PrevHash = b.PrevHash[1:] }), []string{"prev_hash"}},
		{"a header time before 2000 is rejected", blockWith(func(b *Block) { b.Time = utc("1999-12-31T23:59:59Z") }), []string{"time"}},
		{"a zero header time is rejected", blockWith(func(b *Block) { b.Time = time.Time{} }), []string{"time"}},
		{"milliseconds read as seconds (a year far ahead) are rejected", blockWith(func(b *Block) { b.Time = time.Unix(1713571767000, 0).UTC() }), []string{"time"}},
		{"bits of 7 hex characters are rejected", blockWith(func(b *Block) { b.Bits = "3421917" }), []string{"bits"}},
		{"upper-case bits are rejected", blockWith(func(b *Block) { b.Bits = "1703421F" }), []string{"bits"}},
		{"bits with the sign bit set are rejected", blockWith(func(b *Block) { b.Bits = "17834219" }), []string{"bits"}},
		{"bits encoding a zero target are rejected", blockWith(func(b *Block) { b.Bits = "17000000" }), []string{"bits"}},
		{"bits overflowing 256 bits are rejected", blockWith(func(b *Block) { b.Bits = "21034219" }), []string{"bits"}},
		{"a difficulty that disagrees with the bits is rejected", blockWith(func(b *Block) { b.Difficulty *= 1.001 }), []string{"difficulty"}},
		{"a zero difficulty is rejected", blockWith(func(b *Block) { b.Difficulty = 0 }), []string{"difficulty"}},
		{"a NaN difficulty is rejected", blockWith(func(b *Block) { b.Difficulty = math.NaN() }), []string{"difficulty"}},
		{"work approximated as difficulty × 2^32 is rejected", blockWith(func(b *Block) { b.Work = workApproxFromDifficulty(b.Difficulty) }), []string{"work"}},
		{"work off by two is rejected", blockWith(func(b *Block) { b.Work = "371041696979166003650765" }), []string{"work"}},
		{"work with a leading zero is rejected", blockWith(func(b *Block) { b.Work = "0" + b.Work }), []string{"work"}},
		{"work in exponent notation is rejected", blockWith(func(b *Block) { b.Work = "3.71e23" }), []string{"work"}},
		{"empty work is rejected", blockWith(func(b *Block) { b.Work = "" }), []string{"work"}},
		{"an observed block with no transactions is rejected", blockWith(func(b *Block) { b.TxCount = 0 }), []string{"tx_count"}},
		{"a negative transaction count is rejected", blockWith(func(b *Block) { b.TxCount = -1 }), []string{"tx_count"}},
		{"a coinbase script of odd hex length is rejected", blockWith(func(b *Block) { b.CoinbaseScriptHex += "0" }), []string{"coinbase_script_hex"}},
		{"a coinbase script over 100 bytes is rejected", blockWith(func(b *Block) { b.CoinbaseScriptHex = strings.Repeat("00", 101) }), []string{"coinbase_script_hex"}},
		{"an observed block without coinbase script is rejected", blockWith(func(b *Block) { b.CoinbaseScriptHex = "" }), []string{"coinbase_script_hex"}},
		{"a non-printable byte in the coinbase ASCII is rejected", blockWith(func(b *Block) { b.CoinbaseASCII = "ok\x01" }), []string{"coinbase_ascii"}},
		{"a bad third coinbase address is named by its index", blockWith(func(b *Block) {
			b.CoinbaseAddresses = append(b.CoinbaseAddresses, "bad address!")
		}), []string{"coinbase_addresses[2]"}},
		{"an empty coinbase address is rejected", blockWith(func(b *Block) { b.CoinbaseAddresses[0] = "" }), []string{"coinbase_addresses[0]"}},
		{"a pool slug in upper case is rejected", blockWith(func(b *Block) { b.Pool = "ViaBTC" }), []string{"pool"}},
		{"a pool slug containing the key separator is rejected", blockWith(func(b *Block) { b.Pool = "via|btc" }), []string{"pool"}},
		{"an empty pool is rejected", blockWith(func(b *Block) { b.Pool = "" }), []string{"pool"}},
		{"an attribution method outside the list is rejected", blockWith(func(b *Block) { b.AttributionMethod = "guess" }), []string{"attribution_method"}},
		{"attribution unknown with a named pool is rejected", blockWith(func(b *Block) { b.AttributionMethod = AttributionUnknown }), []string{"pool"}},
		{"attribution by tag to the unknown pool is rejected", blockWith(func(b *Block) { b.Pool = PoolUnknown }), []string{"pool"}},
		{"attribution by address without coinbase addresses is rejected", blockWith(func(b *Block) {
			b.AttributionMethod = AttributionAddress
			b.CoinbaseAddresses = nil
		}), []string{"coinbase_addresses"}},
		{"an observed block without registry version is rejected", blockWith(func(b *Block) { b.PoolRegistryVersion = "" }), []string{"pool_registry_version"}},
		{"a registry version with a space is rejected", blockWith(func(b *Block) { b.PoolRegistryVersion = "v 1" }), []string{"pool_registry_version"}},
		{"an empty source is rejected", blockWith(func(b *Block) { b.Source = "" }), []string{"source"}},
		{"a zero observation time is rejected", blockWith(func(b *Block) { b.ObservedAt = time.Time{} }), []string{"observed_at"}},
		{"the schema name of another type is rejected", blockWith(func(b *Block) { b.Schema = SchemaEstimate }), []string{"schema"}},
		{"several broken rules are all reported, in field order", blockWith(func(b *Block) {
			b.Height = -5
			b.Source = ""
		}), []string{"height", "source"}},

		// DifficultyEpoch.
		{"a start height that is not a multiple of 2016 is rejected", epochWith(func(e *DifficultyEpoch) { e.StartHeight++ }), []string{"start_height"}},
		{"a negative start height is rejected", epochWith(func(e *DifficultyEpoch) { e.StartHeight = -2016 }), []string{"start_height"}},
		{"an epoch number other than start_height/2016 is rejected", epochWith(func(e *DifficultyEpoch) { e.Epoch = 417 }), []string{"epoch"}},
		{"epoch bits that are not hex are rejected", epochWith(func(e *DifficultyEpoch) { e.Bits = "1703421g" }), []string{"bits"}},
		{"an epoch difficulty from another epoch is rejected", epochWith(func(e *DifficultyEpoch) { e.Difficulty = 88104191118793.16 }), []string{"difficulty"}},
		{"an epoch without source is rejected", epochWith(func(e *DifficultyEpoch) { e.Source = "" }), []string{"source"}},

		// PoolStats.
		{"pool stats with neither hashrate nor blocks are rejected", poolStatsWith(func(p *PoolStats) { p.HashrateHS, p.Blocks = nil, nil }), []string{"hashrate_hs"}},
		{"a negative pool hashrate is rejected", poolStatsWith(func(p *PoolStats) { p.HashrateHS = ptr(-1.0) }), []string{"hashrate_hs"}},
		{"an infinite pool hashrate is rejected", poolStatsWith(func(p *PoolStats) { p.HashrateHS = ptr(math.Inf(1)) }), []string{"hashrate_hs"}},
		{"a negative pool block count is rejected", poolStatsWith(func(p *PoolStats) { p.Blocks = ptr(int64(-1)) }), []string{"blocks"}},
		{"a zero interval is rejected", poolStatsWith(func(p *PoolStats) { p.IntervalSeconds = 0 }), []string{"interval_seconds"}},
		{"an interval over ten years is rejected", poolStatsWith(func(p *PoolStats) { p.IntervalSeconds = MaxIntervalSeconds + 1 }), []string{"interval_seconds"}},
		{"a pool name with a space is rejected", poolStatsWith(func(p *PoolStats) { p.Pool = "foundry usa" }), []string{"pool"}},
		{"pool stats without time are rejected", poolStatsWith(func(p *PoolStats) { p.Time = time.Time{} }), []string{"time"}},
		{"pool stats without source are rejected", poolStatsWith(func(p *PoolStats) { p.Source = "" }), []string{"source"}},

		// GridObservation.
		{"a lower-case country code is rejected", gridWith(func(g *GridObservation) { g.Country = "us" }), []string{"country"}},
		{"a three-letter country code is rejected", gridWith(func(g *GridObservation) { g.Country = "USA" }), []string{"country"}},
		{"an empty region is rejected", gridWith(func(g *GridObservation) { g.Region = "" }), []string{"region"}},
		{"a region containing the key separator is rejected", gridWith(func(g *GridObservation) { g.Region = "ER|CO" }), []string{"region"}},
		{"an unknown fuel is rejected", gridWith(func(g *GridObservation) { g.Metric = "generation_unobtainium" }), []string{"metric"}},
		{"an unknown grid metric is rejected", gridWith(func(g *GridObservation) { g.Metric = "load" }), []string{"metric"}},
		{"demand in USD/MWh is rejected", gridWith(func(g *GridObservation) { g.Unit = UnitUSDPerMWh }), []string{"unit"}},
		{"a unit outside the list is rejected", gridWith(func(g *GridObservation) { g.Unit = "kW" }), []string{"unit"}},
		{"negative demand is rejected", gridWith(func(g *GridObservation) { g.Value = -1 }), []string{"value"}},
		{"a fractional emergency flag is rejected", gridWith(func(g *GridObservation) { g.Metric, g.Unit, g.Value = GridEmergency, UnitFlag, 1.5 }), []string{"value"}},
		{"an emergency level above 10 is rejected", gridWith(func(g *GridObservation) { g.Metric, g.Unit, g.Value = GridEmergency, UnitFlag, 11 }), []string{"value"}},
		{"a NaN price is rejected", gridWith(func(g *GridObservation) { g.Metric, g.Unit, g.Value = GridPrice, UnitUSDPerMWh, math.NaN() }), []string{"value"}},
		{"a grid interval of zero is rejected", gridWith(func(g *GridObservation) { g.IntervalSeconds = 0 }), []string{"interval_seconds"}},

		// Estimate.
		{"an unknown estimate metric is rejected", estimateWith(func(e *Estimate) { e.Metric = "hashrate" }), []string{"metric"}},
		{"an unknown window is rejected", estimateWith(func(e *Estimate) { e.Window = "quarter" }), []string{"window"}},
		{"a day window not starting at midnight is rejected", estimateWith(func(e *Estimate) {
			e.WindowStart = e.WindowStart.Add(time.Hour)
			e.WindowEnd = e.WindowEnd.Add(time.Hour)
		}), []string{"window_start"}},
		{"a day window of 25 hours is rejected", estimateWith(func(e *Estimate) { e.WindowEnd = e.WindowEnd.Add(time.Hour) }), []string{"window_end"}},
		{"a week window starting on a Saturday is rejected", estimateWith(func(e *Estimate) {
			e.Window = WindowWeek
			e.WindowEnd = e.WindowStart.AddDate(0, 0, 7)
		}), []string{"window_start"}},
		{"a week window of 8 days is rejected", estimateWith(func(e *Estimate) {
			e.Window = WindowWeek
			e.WindowStart = utc("2024-04-15T00:00:00Z")
			e.WindowEnd = utc("2024-04-23T00:00:00Z")
		}), []string{"window_end"}},
		{"a month window not starting on the first is rejected", estimateWith(func(e *Estimate) {
			e.Window = WindowMonth
			e.WindowEnd = e.WindowStart.AddDate(0, 1, 0)
		}), []string{"window_start"}},
		{"a month window of 30 days in a 31-day month is rejected", estimateWith(func(e *Estimate) {
			e.Window = WindowMonth
			e.WindowStart = utc("2024-05-01T00:00:00Z")
			e.WindowEnd = utc("2024-05-31T00:00:00Z")
		}), []string{"window_end"}},
		{"a last-N window ending before it starts is rejected", estimateWith(func(e *Estimate) {
			e.Window = WindowLastN
			e.WindowEnd = e.WindowStart.Add(-time.Second)
		}), []string{"window_end"}},
		{"a day window starting at midnight in UTC+2 is rejected", estimateWith(func(e *Estimate) {
			e.WindowStart = time.Date(2024, 4, 20, 0, 0, 0, 0, plus2)
			e.WindowEnd = e.WindowStart.AddDate(0, 0, 1)
		}), []string{"window_start"}},
		{"a zero window start is rejected", estimateWith(func(e *Estimate) { e.WindowStart = time.Time{} }), []string{"window_start"}},
		{"a lower bound above the value is rejected", estimateWith(func(e *Estimate) { e.Lower = e.Value * 1.01 }), []string{"lower"}},
		{"an upper bound below the value is rejected", estimateWith(func(e *Estimate) { e.Upper = e.Value * 0.99 }), []string{"upper"}},
		{"a NaN value is rejected", estimateWith(func(e *Estimate) { e.Value = math.NaN() }), []string{"value"}},
		{"an infinite upper bound is rejected", estimateWith(func(e *Estimate) { e.Upper = math.Inf(1) }), []string{"upper"}},
		{"a share above 1 is rejected", estimateWith(func(e *Estimate) {
			e.Metric, e.Unit, e.Entity = MetricPoolShare, UnitRatio, "foundryusa"
			e.Value, e.Lower, e.Upper = 0.3, 0.25, 1.01
		}), []string{"upper"}},
		{"a negative hashrate bound is rejected", estimateWith(func(e *Estimate) { e.Lower = -1 }), []string{"lower"}},
		{"a unit other than the metric's is rejected", estimateWith(func(e *Estimate) { e.Unit = UnitGW }), []string{"unit"}},
		{"a network metric for another entity is rejected", estimateWith(func(e *Estimate) { e.Entity = "world" }), []string{"entity"}},
		{"a country metric for a lower-case code is rejected", estimateWith(func(e *Estimate) {
			e.Metric, e.Entity = MetricCountryHashrate, "us"
		}), []string{"entity"}},
		{"an energy beta without pool/region entity is rejected", estimateWith(func(e *Estimate) {
			e.Metric, e.Unit, e.Entity = MetricEnergyBeta, UnitRatio, "foundryusa"
			e.Value, e.Lower, e.Upper = 0.2, 0.1, 0.3
		}), []string{"entity"}},
		{"a method with a space is rejected", estimateWith(func(e *Estimate) { e.Method = "fixed window" }), []string{"method"}},
		{"an estimate without model version is rejected", estimateWith(func(e *Estimate) { e.ModelVersion = "" }), []string{"model_version"}},
		{"a negative block count is rejected", estimateWith(func(e *Estimate) { e.Blocks = -1 }), []string{"blocks"}},
		{"an estimate without computation time is rejected", estimateWith(func(e *Estimate) { e.ComputedAt = time.Time{} }), []string{"computed_at"}},
		{"an inputs digest that is not hex is rejected", estimateWith(func(e *Estimate) { e.InputsDigest = "not-a-digest-at-all" }), []string{"inputs_digest"}},
		{"a short inputs digest is rejected", estimateWith(func(e *Estimate) { e.InputsDigest = "abcdef" }), []string{"inputs_digest"}},

		// DeadLetter.
		{"a dead letter without topic is rejected", deadLetterWith(func(d *DeadLetter) { d.OriginalTopic = "" }), []string{"topic"}},
		{"a dead letter with an impossible topic name is rejected", deadLetterWith(func(d *DeadLetter) { d.OriginalTopic = "a topic" }), []string{"topic"}},
		{"a negative partition is rejected", deadLetterWith(func(d *DeadLetter) { d.Partition = -1 }), []string{"partition"}},
		{"a negative offset is rejected", deadLetterWith(func(d *DeadLetter) { d.Offset = -1 }), []string{"offset"}},
		{"a dead letter without reason is rejected", deadLetterWith(func(d *DeadLetter) { d.Reason = "" }), []string{"reason"}},
		{"a stage outside the list is rejected", deadLetterWith(func(d *DeadLetter) { d.Stage = "store" }), []string{"stage"}},
		{"a dead letter without failure time is rejected", deadLetterWith(func(d *DeadLetter) { d.FailedAt = time.Time{} }), []string{"failed_at"}},
		{"a consumer group with a space is rejected", deadLetterWith(func(d *DeadLetter) { d.ConsumerGroup = "my group" }), []string{"consumer_group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldsOf(t, tt.msg.Validate())
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate() faults fields %q, want %q (error: %v)", got, tt.want, tt.msg.Validate())
			}
			// Encode refuses the message, with the same field errors.
			_, err := Encode(tt.msg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.want[0] {
				t.Errorf("Encode error = %v, want one naming field %s", err, tt.want[0])
			}
		})
	}
}

// TestValidateAccepts proves the rules admit the legitimate variants the
// collectors, the simulator and the estimator produce.
func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"a file-replayed block without header or coinbase, with a historical slug", blockWith(func(b *Block) {
			b.Hash, b.PrevHash, b.CoinbaseScriptHex, b.CoinbaseASCII, b.PoolRegistryVersion = "", "", "", "", ""
			b.CoinbaseAddresses, b.TxCount = nil, 0
			b.AttributionMethod, b.Pool, b.Source = AttributionFile, "btcpool(unidentified)", "file"
		})},
		{"a file-replayed block attributed to unknown", blockWith(func(b *Block) {
			b.AttributionMethod, b.Pool = AttributionFile, PoolUnknown
		})},
		{"a simulated block with a made-up hash", blockWith(func(b *Block) {
			b.AttributionMethod, b.Source, b.Hash = AttributionSimulated, "simulator", strings.Repeat("ab", 32)
		})},
		{"the genesis block without previous hash", blockWith(func(b *Block) {
			b.Height, b.PrevHash, b.Bits, b.Difficulty, b.Work, b.TxCount = 0, "", "1d00ffff", 1, "4295032833", 1
			b.Time = utc("2009-01-03T18:15:05Z")
		})},
		{"an unattributed observed block", blockWith(func(b *Block) {
			b.AttributionMethod, b.Pool = AttributionUnknown, PoolUnknown
		})},
		{"a block attributed by address", blockWith(func(b *Block) { b.AttributionMethod = AttributionAddress })},
		{"a block with no coinbase address and empty ASCII", blockWith(func(b *Block) { b.CoinbaseAddresses, b.CoinbaseASCII = nil, "" })},
		{"an epoch with unknown first block time", epochWith(func(e *DifficultyEpoch) { e.FirstBlockTime = nil })},
		{"epoch 0 at difficulty 1", epochWith(func(e *DifficultyEpoch) {
			e.Epoch, e.StartHeight, e.Bits, e.Difficulty, e.FirstBlockTime = 0, 0, "1d00ffff", 1, nil
		})},
		{"pool stats with blocks only", poolStatsWith(func(p *PoolStats) { p.HashrateHS = nil })},
		{"pool stats with hashrate only, zero", poolStatsWith(func(p *PoolStats) { p.Blocks, p.HashrateHS = nil, ptr(0.0) })},
		{"a negative price", gridWith(func(g *GridObservation) { g.Metric, g.Unit, g.Value = GridPrice, UnitUSDPerMWh, -12.5 })},
		{"an emergency at level 3", gridWith(func(g *GridObservation) { g.Metric, g.Unit, g.Value = GridEmergency, UnitFlag, 3 })},
		{"negative solar generation in MW", gridWith(func(g *GridObservation) { g.Metric, g.Unit, g.Value = "generation_solar", UnitMW, -3 })},
		{"net export as negative interchange", gridWith(func(g *GridObservation) { g.Metric, g.Value = GridInterchange, -1500 })},
		{"a national grid in Kazakhstan", gridWith(func(g *GridObservation) { g.Region, g.Country = "KZ", "KZ" })},
		{"the unallocated country share", estimateWith(func(e *Estimate) {
			e.Metric, e.Unit, e.Entity, e.Method = MetricCountryShare, UnitRatio, "XX", "pool-allocation"
			e.Value, e.Lower, e.Upper = 0.1, 0.05, 0.2
		})},
		{"an energy beta for a pool and a grid region", estimateWith(func(e *Estimate) {
			e.Metric, e.Unit, e.Entity, e.Method = MetricEnergyBeta, UnitRatio, "foundryusa/ERCO", "grid-stress"
			e.Value, e.Lower, e.Upper = 0.2, 0, 0.45
		})},
		{"a last-N window over blocks with equal header times", estimateWith(func(e *Estimate) {
			e.Window, e.WindowEnd = WindowLastN, e.WindowStart
		})},
		{"a leap-year February", estimateWith(func(e *Estimate) {
			e.Window, e.WindowStart, e.WindowEnd = WindowMonth, utc("2024-02-01T00:00:00Z"), utc("2024-03-01T00:00:00Z")
		})},
		{"an ISO week", estimateWith(func(e *Estimate) {
			e.Window, e.WindowStart, e.WindowEnd = WindowWeek, utc("2024-04-15T00:00:00Z"), utc("2024-04-22T00:00:00Z")
		})},
		{"a shed-power interval straddling zero", estimateWith(func(e *Estimate) {
			e.Metric, e.Unit, e.Entity = MetricShedPowerGW, UnitGW, "ERCO"
			e.Value, e.Lower, e.Upper = 0.4, -0.1, 0.9
		})},
		{"luck above 1 for a pool", estimateWith(func(e *Estimate) {
			e.Metric, e.Unit, e.Entity = MetricLuck, UnitRatio, "foundryusa"
			e.Value, e.Lower, e.Upper = 1.2, 0.9, 1.5
		})},
		{"power for the network", estimateWith(func(e *Estimate) {
			e.Metric, e.Unit, e.Value, e.Lower, e.Upper = MetricPowerGW, UnitGW, 17, 14, 21
		})},
		{"a dead letter of a tombstone without key or group", deadLetterWith(func(d *DeadLetter) {
			d.OriginalKey, d.OriginalValue, d.ConsumerGroup = nil, nil, ""
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.msg.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			data, err := Encode(tt.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			want := reflect.ValueOf(tt.msg).Elem()
			want.FieldByName("Schema").SetString(tt.msg.SchemaName())
			normalizeEmpty(want)
			if !reflect.DeepEqual(got, want.Addr().Interface()) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, want.Addr().Interface())
			}
		})
	}
}

// TestTimesAreInstants proves that a time.Time in another zone is valid and
// encodes, keys and decodes exactly like the same instant in UTC, so that
// validation does not depend on the machine's time zone.
func TestTimesAreInstants(t *testing.T) {
	inUTC := goldenPoolStats()
	elsewhere := goldenPoolStats()
	elsewhere.Time = elsewhere.Time.In(plus2)
	a, err := Encode(inUTC)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(elsewhere)
	if err != nil {
		t.Fatalf("Encode of a time in UTC+2: %v", err)
	}
	if string(a) != string(b) || inUTC.Key() != elsewhere.Key() {
		t.Errorf("the same instant in UTC+2 encodes as %s key %q, in UTC as %s key %q", b, elsewhere.Key(), a, inUTC.Key())
	}
}

// normalizeEmpty sets empty string lists to nil, as Decode returns them.
func normalizeEmpty(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String && f.Len() == 0 {
			f.Set(reflect.Zero(f.Type()))
		}
	}
}

// TestFieldErrorText proves the error text names the field in the
// documented "field <path>: <reason>" form.
func TestFieldErrorText(t *testing.T) {
	err := blockWith(func(b *Block) { b.Height = -1 }).Validate()
	if got, want := err.Error(), "field height: must be between 0 and 4294967295, found -1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestValidateDoesNotAllocate proves validation of a valid message is free
// of allocations, which keeps Decode cheap on the hot path.
func TestValidateDoesNotAllocate(t *testing.T) {
	for _, g := range goldens() {
		m := g.msg
		if n := testing.AllocsPerRun(100, func() { _ = m.Validate() }); n != 0 {
			t.Errorf("%s: Validate allocates %v times", g.file, n)
		}
	}
}
