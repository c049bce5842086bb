package grid

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// topic is the grid topic in memory: a Publisher and a Log over the same messages, which go
// through the schema's JSON codec both ways.
type topic struct {
	msgs  []schemas.GridObservation
	calls int
	fail  error
}

func (tp *topic) Publish(ctx context.Context, msgs ...schemas.Message) error {
	tp.calls++
	if tp.fail != nil {
		return tp.fail
	}
	for _, m := range msgs {
		b, err := schemas.Encode(m)
		if err != nil {
			return err
		}
		o, err := schemas.DecodeAs[schemas.GridObservation](b)
		if err != nil {
			return err
		}
		tp.msgs = append(tp.msgs, o)
	}
	return nil
}

func (tp *topic) ReadGrid(ctx context.Context, fn func(schemas.GridObservation) error) error {
	for _, o := range tp.msgs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func obs(region, metric string, hour int, v float64) schemas.GridObservation {
	return schemas.GridObservation{Region: region, Country: "US", Time: t0.Add(time.Duration(hour) * time.Hour),
		IntervalSeconds: 3600, Metric: metric, Value: v, Unit: schemas.UnitMWh, Source: "eia"}
}

func TestLoadPublishedKeepsTheLatestContentPerKeyOfItsSourceOnly(t *testing.T) {
	tp := &topic{}
	csv := obs("ERCO", "demand", 50, 1)
	csv.Source = "csv"
	odd := obs("ERCO", "demand", 7, 70)
	odd.Time = odd.Time.Add(30 * time.Minute) // not on the hour: stored apart
	if err := tp.Publish(context.Background(), obs("ERCO", "demand", 0, 10), obs("ERCO", "demand", 1, 11),
		obs("ERCO", "demand", 0, 12), obs("PJM", "demand", 3, 30), csv, odd,
		obs("ERCO", "demand", 5000, 5)); err != nil { // another chunk
		t.Fatal(err)
	}
	p, err := LoadPublished(context.Background(), tp, "eia")
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 5 {
		t.Fatalf("Len = %d, want 5 keys (the csv observation is another source's)", p.Len())
	}
	for _, tc := range []struct {
		o     schemas.GridObservation
		found bool
		value float64
	}{
		{obs("ERCO", "demand", 0, 0), true, 12}, // the later publication wins
		{obs("ERCO", "demand", 1, 0), true, 11},
		{obs("ERCO", "demand", 2, 0), false, 0},
		{obs("ERCO", "demand", 50, 0), false, 0}, // only the csv source has it
		{obs("PJM", "demand", 3, 0), true, 30},
		{obs("PJM", "net_generation", 3, 0), false, 0},
		{odd, true, 70},
		{obs("ERCO", "demand", 5000, 0), true, 5},
	} {
		c, found, thisPass := p.Lookup(tc.o)
		if found != tc.found || c.Value != tc.value || thisPass {
			t.Errorf("Lookup(%s) = %+v, %v, %v; want value %v, found %v, not this pass", tc.o.Key(), c, found, thisPass, tc.value, tc.found)
		}
	}
	last, ok := p.Last("ERCO", "demand", 3600)
	if !ok || !last.Equal(t0.Add(5000*time.Hour)) {
		t.Fatalf("Last(ERCO, demand) = %v, %v", last, ok)
	}
	if _, ok := p.Last("ERCO", "demand", 86400); ok {
		t.Fatal("Last of a series with another interval is found")
	}
}

func TestLoadPublishedNamesTheSourceOnAReadError(t *testing.T) {
	_, err := LoadPublished(context.Background(), failingLog{}, "eia")
	if err == nil || !strings.Contains(err.Error(), "resume source eia") || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("err = %v", err)
	}
}

type failingLog struct{}

func (failingLog) ReadGrid(ctx context.Context, fn func(schemas.GridObservation) error) error {
	return errors.New("broker down")
}

func TestWriterPublishesNewAndRevisedKeysAndSkipsUnchangedOnes(t *testing.T) {
	tp := &topic{}
	if err := tp.Publish(context.Background(), obs("ERCO", "demand", 0, 10), obs("ERCO", "demand", 1, 11)); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPublished(context.Background(), tp, "eia")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logs)
	w := NewWriter(tp, p, 2, log)
	ctx := context.Background()
	for _, o := range []schemas.GridObservation{
		obs("ERCO", "demand", 0, 10), // unchanged
		obs("ERCO", "demand", 1, 15), // revised
		obs("ERCO", "demand", 2, 20), // new
		obs("ERCO", "demand", 2, 20), // the same again in this pass: unchanged
		obs("ERCO", "demand", 3, 30), // new
	} {
		if err := w.Add(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c := w.Counts(); c != (Counts{New: 2, Revised: 1, Unchanged: 2}) {
		t.Fatalf("counts %+v", c)
	}
	got := tp.msgs[2:]
	if len(got) != 3 || got[0].Value != 15 || got[1].Value != 20 || got[2].Value != 30 {
		t.Fatalf("published %+v, want 15, 20, 30", got)
	}
	if tp.calls != 1+2 {
		t.Fatalf("%d publish calls, want the setup's and two batches (2 then 1)", tp.calls)
	}
	if l := logs.String(); !strings.Contains(l, "source revised a published observation") || !strings.Contains(l, `old="11 MWh in US"`) || !strings.Contains(l, `new="15 MWh in US"`) {
		t.Fatalf("the revision is not logged with old and new content:\n%s", l)
	}
	// A change of unit or country alone is a revision too.
	o := obs("ERCO", "demand", 0, 10)
	o.Unit = schemas.UnitMW
	if err := w.Add(ctx, o); err != nil {
		t.Fatal(err)
	}
	if c := w.Counts(); c.Revised != 2 {
		t.Fatalf("a unit change is not counted as a revision: %+v", c)
	}
}

func TestWriterRefusesAKeyGivenTwiceInOnePassWithDifferentValues(t *testing.T) {
	tp := &topic{}
	w := NewWriter(tp, NewPublished("eia"), 10, nil)
	ctx := context.Background()
	if err := w.Add(ctx, obs("PJM", "demand", 0, 1)); err != nil {
		t.Fatal(err)
	}
	err := w.Add(ctx, obs("PJM", "demand", 0, 2))
	if err == nil || !strings.Contains(err.Error(), "PJM|demand|eia|3600|2024-01-01T00:00:00Z is given twice in one pass with different content (1 MWh in US, then 2 MWh in US)") {
		t.Fatalf("err = %v", err)
	}
}

func TestWriterRefusesInvalidObservationsNamingTheKey(t *testing.T) {
	w := NewWriter(&topic{}, NewPublished("eia"), 10, nil)
	bad := obs("ERCO", "demand", 0, -5)
	err := w.Add(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "ERCO|demand|eia|3600|") || !strings.Contains(err.Error(), "value") {
		t.Fatalf("err = %v", err)
	}
	other := obs("ERCO", "demand", 0, 5)
	other.Source = "csv"
	if err := w.Add(context.Background(), other); err == nil || !strings.Contains(err.Error(), `source "csv", want "eia"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestWriterReportsAFailedPublish(t *testing.T) {
	tp := &topic{fail: errors.New("not enough replicas")}
	w := NewWriter(tp, NewPublished("eia"), 1, nil)
	err := w.Add(context.Background(), obs("ERCO", "demand", 0, 5))
	if err == nil || !strings.Contains(err.Error(), "publish 1 grid observations: not enough replicas") {
		t.Fatalf("err = %v", err)
	}
}
