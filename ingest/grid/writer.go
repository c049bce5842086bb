package grid

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// DefaultBatchSize is how many observations a Writer publishes at once by default.
const DefaultBatchSize = 5000

// revisionLogLimit is how many revisions a Writer logs one by one in a pass; the rest are
// logged at debug level and counted in Counts.Revised.
const revisionLogLimit = 20

// Counts says what a Writer did with the observations it was given.
type Counts struct {
	// New counts keys the topic did not have: published.
	New int
	// Revised counts keys the topic had with other content (the source revised its value,
	// unit or the region's country changed): published again, each logged.
	Revised int
	// Unchanged counts keys the topic already had with the same content: skipped.
	Unchanged int
}

// Writer publishes one pass's grid observations of one source against the record of what
// the topic holds: a key the topic lacks is published; a key it holds with the same content
// is skipped, so that re-reading a range publishes nothing twice; a key it holds with other
// content is published again with a log line saying the source revised it. A key given twice
// in one pass with different content is an error: a source contradicting itself is a bad
// response, not a revision. Observations are published in batches; Flush publishes the rest.
// A Writer is not safe for concurrent use.
type Writer struct {
	pub       ingest.Publisher
	published *Published
	batchSize int
	log       logrus.FieldLogger
	batch     []schemas.Message
	counts    Counts
	revLogged int
}

// NewWriter returns a Writer publishing to pub. published is the record of the source's
// observations on the topic (LoadPublished); the Writer records what it publishes in it.
// batchSize <= 0 means DefaultBatchSize; a nil log discards.
func NewWriter(pub ingest.Publisher, published *Published, batchSize int, log logrus.FieldLogger) *Writer {
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	log = ingest.OrDiscard(log)
	return &Writer{pub: pub, published: published, batchSize: batchSize, log: log,
		batch: make([]schemas.Message, 0, batchSize)}
}

// Add validates o and queues it for publication unless the topic already holds its key with
// the same content; a full batch is published before Add returns. On error nothing of o is
// queued; what earlier batches published stays published.
func (w *Writer) Add(ctx context.Context, o schemas.GridObservation) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("observation %s: %w", o.Key(), err)
	}
	if o.Source != w.published.source {
		return fmt.Errorf("observation %s: source %q, want %q", o.Key(), o.Source, w.published.source)
	}
	cur := Content{Country: o.Country, Unit: o.Unit, Value: o.Value}
	prev, found, thisPass := w.published.Lookup(o)
	switch {
	case found && prev == cur:
		w.counts.Unchanged++
		return nil
	case found && thisPass:
		return fmt.Errorf("observation %s is given twice in one pass with different content (%s, then %s)",
			o.Key(), describe(prev), describe(cur))
	case found:
		w.counts.Revised++
		fields := logrus.Fields{"region": o.Region, "metric": o.Metric, "time": o.Time.UTC().Format(time.RFC3339),
			"interval_seconds": o.IntervalSeconds, "old": describe(prev), "new": describe(cur)}
		msg := "source revised a published observation: publishing the new content under the same key"
		if w.revLogged < revisionLogLimit {
			w.revLogged++
			w.log.WithFields(fields).Info(msg)
		} else {
			w.log.WithFields(fields).Debug(msg)
		}
	default:
		w.counts.New++
	}
	if err := w.published.Record(o); err != nil {
		return err
	}
	o.Schema = schemas.SchemaGridObservation
	w.batch = append(w.batch, &o)
	if len(w.batch) >= w.batchSize {
		return w.Flush(ctx)
	}
	return nil
}

// Flush publishes the queued observations.
func (w *Writer) Flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	if err := w.pub.Publish(ctx, w.batch...); err != nil {
		return fmt.Errorf("publish %d grid observations: %w", len(w.batch), err)
	}
	clear(w.batch)
	w.batch = w.batch[:0]
	return nil
}

// Counts returns what the Writer did so far (queued observations count as published).
func (w *Writer) Counts() Counts { return w.counts }

func describe(c Content) string {
	return strconv.FormatFloat(c.Value, 'g', -1, 64) + " " + c.Unit + " in " + c.Country
}
