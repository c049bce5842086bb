package clickhouse

import (
	"context"
	"testing"
	"time"
)

// benchRowsPerOp is the number of rows one benchmark iteration writes (and flushes).
const benchRowsPerOp = 1_000_000

// benchRowBytes approximates one narrow row in ClickHouse's Native format (8+4+8+8+1+4).
const benchRowBytes = 33

// benchmarkWriter writes benchRowsPerOp narrow rows (UInt64, UInt32, Float64, String,
// DateTime) per iteration through Add and a final Flush, with the default batch size.
func benchmarkWriter(b *testing.B, db *DB) {
	mustExec(b, db, narrowTable)
	ctx := context.Background()
	w, err := NewWriter(ctx, db, "narrow", narrowColumns, WriterConfig{BatchRows: DefaultBatchRows, FlushInterval: time.Minute}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(ctx)
	labels := make([]string, 26)
	for i := range labels {
		labels[i] = "label-" + string(rune('a'+i))
	}
	b.ReportAllocs()
	b.SetBytes(benchRowsPerOp * benchRowBytes)
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		base := n * benchRowsPerOp
		for i := base; i < base+benchRowsPerOp; i++ {
			if err := w.Add(ctx, uint64(i), uint32(i%1000), float64(i)*0.25, labels[i%26], t0.Add(time.Duration(i%86400)*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRowsPerOp)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkWriterServer measures the sink into the ClickHouse server (the Debian 18.16 on
// this machine): the target is at least 1,000,000 rows/s.
func BenchmarkWriterServer(b *testing.B) {
	benchmarkWriter(b, openTestServer(b))
}

// BenchmarkDriverBatchServer is the baseline: the same rows appended row by row to a
// clickhouse-go batch directly, without the Writer.
func BenchmarkDriverBatchServer(b *testing.B) {
	db := openTestServer(b)
	mustExec(b, db, narrowTable)
	conn := db.b.(*server).conn
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(benchRowsPerOp * benchRowBytes)
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		base := n * benchRowsPerOp
		for chunk := base; chunk < base+benchRowsPerOp; chunk += DefaultBatchRows {
			batch, err := conn.PrepareBatch(ctx, "INSERT INTO narrow (id, small, x, label, at)")
			if err != nil {
				b.Fatal(err)
			}
			for i := chunk; i < chunk+DefaultBatchRows; i++ {
				if err := batch.Append(uint64(i), uint32(i%1000), float64(i)*0.25, "label", t0.Add(time.Duration(i%86400)*time.Second)); err != nil {
					b.Fatal(err)
				}
			}
			if err := batch.Send(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchRowsPerOp)/time.Since(start).Seconds(), "rows/s")
}
