package grid

import (
	"context"
	"fmt"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
)

// Log reads back the grid topic, so that a collector resumes where the last run left off.
type Log interface {
	// ReadGrid calls fn with every grid observation on the topic, up to the end the topic has
	// when the call begins. Observations with the same key arrive in the order they were
	// published (they share a partition), so the last one fn sees is the current one. fn is
	// called from one goroutine at a time; its error stops the read and is returned. ReadGrid
	// must return when ctx ends.
	ReadGrid(ctx context.Context, fn func(schemas.GridObservation) error) error
}

// Content is what a grid observation says about its key (region, metric, source, interval,
// time): the part that may differ between two publications of the key.
type Content struct {
	Country string
	Unit    string
	Value   float64
}

// chunkBits sets how many consecutive intervals of a series share one block of storage.
const (
	chunkBits = 10
	chunkLen  = 1 << chunkBits
)

// slot is one published observation: its value and an index (1-based, 0 for none) into the
// interned country/unit pairs, and whether it was recorded by the current pass.
type slot struct {
	value    float64
	cu       uint16
	thisPass bool
}

type seriesKey struct {
	region, metric string
	interval       int64
}

// series is one (region, metric, interval) of the source: the content of every published
// time. Times that are whole multiples of the interval since the Unix epoch (all of EIA's,
// and any regular series) live in dense chunks; others in a map by Unix nanoseconds.
type series struct {
	last   time.Time
	chunks map[int64]*[chunkLen]slot
	odd    map[int64]slot
}

type countryUnit struct{ country, unit string }

// Published is the content of every observation one source has on the grid topic, by key.
// It costs about 16 bytes per observation (a five-year hourly backfill of 30 series, 1.3
// million observations, is about 21 MB). A collector loads it at the start of every pass,
// so that a pass that failed half-way leaves nothing behind but what reached the topic. It
// is not safe for concurrent use.
type Published struct {
	source string
	series map[seriesKey]*series
	cus    []countryUnit
	cuIdx  map[countryUnit]uint16
	n      int
}

// NewPublished returns an empty record for source.
func NewPublished(source string) *Published {
	return &Published{source: source, series: map[seriesKey]*series{}, cuIdx: map[countryUnit]uint16{}}
}

// LoadPublished reads the grid topic through log and records every observation of source
// (observations of other sources are skipped).
func LoadPublished(ctx context.Context, log Log, source string) (*Published, error) {
	p := NewPublished(source)
	err := log.ReadGrid(ctx, func(o schemas.GridObservation) error {
		if o.Source != source {
			return nil
		}
		return p.record(o, false)
	})
	if err != nil {
		return nil, fmt.Errorf("read the grid topic to resume source %s: %w", source, err)
	}
	return p, nil
}

// Source is the source whose observations p records.
func (p *Published) Source() string { return p.source }

// Len is the number of keys recorded.
func (p *Published) Len() int { return p.n }

// Last returns the latest interval start published for the series (region, metric,
// intervalSeconds) of the source, and false when it has none.
func (p *Published) Last(region, metric string, intervalSeconds int64) (time.Time, bool) {
	s, ok := p.series[seriesKey{region, metric, intervalSeconds}]
	if !ok {
		return time.Time{}, false
	}
	return s.last, true
}

// Lookup returns the content recorded for o's key (o's own content is ignored), whether
// there is one, and whether it was recorded by Record (this pass) rather than read from the
// topic by LoadPublished.
func (p *Published) Lookup(o schemas.GridObservation) (c Content, found, thisPass bool) {
	s, ok := p.series[seriesKey{o.Region, o.Metric, o.IntervalSeconds}]
	if !ok {
		return Content{}, false, false
	}
	sl, ok := s.get(o.Time, o.IntervalSeconds)
	if !ok || sl.cu == 0 {
		return Content{}, false, false
	}
	cu := p.cus[sl.cu-1]
	return Content{Country: cu.country, Unit: cu.unit, Value: sl.value}, true, sl.thisPass
}

// Record notes that o was published by the current pass. o must be valid and of p's source.
func (p *Published) Record(o schemas.GridObservation) error {
	if o.Source != p.source {
		return fmt.Errorf("record an observation of source %q in the record of %q", o.Source, p.source)
	}
	return p.record(o, true)
}

func (p *Published) record(o schemas.GridObservation, thisPass bool) error {
	if o.IntervalSeconds <= 0 {
		return fmt.Errorf("observation %s: interval_seconds %d", o.Key(), o.IntervalSeconds)
	}
	k := seriesKey{o.Region, o.Metric, o.IntervalSeconds}
	s, ok := p.series[k]
	if !ok {
		s = &series{chunks: map[int64]*[chunkLen]slot{}}
		p.series[k] = s
	}
	cu := countryUnit{o.Country, o.Unit}
	idx, ok := p.cuIdx[cu]
	if !ok {
		if len(p.cus) >= 1<<16-1 {
			return fmt.Errorf("observation %s: more than %d country/unit pairs in source %s", o.Key(), 1<<16-1, p.source)
		}
		p.cus = append(p.cus, cu)
		idx = uint16(len(p.cus))
		p.cuIdx[cu] = idx
	}
	if s.set(o.Time, o.IntervalSeconds, slot{value: o.Value, cu: idx, thisPass: thisPass}) {
		p.n++
	}
	if o.Time.After(s.last) {
		s.last = o.Time.UTC()
	}
	return nil
}

// index returns the chunk and position of t in a series of interval seconds, and false when
// t is not a whole multiple of the interval since the epoch.
func index(t time.Time, interval int64) (chunk int64, pos int, ok bool) {
	u := t.Unix()
	if t.Nanosecond() != 0 || u < 0 || u%interval != 0 {
		return 0, 0, false
	}
	n := u / interval
	return n >> chunkBits, int(n & (chunkLen - 1)), true
}

func (s *series) get(t time.Time, interval int64) (slot, bool) {
	c, i, ok := index(t, interval)
	if !ok {
		sl, found := s.odd[t.UnixNano()]
		return sl, found
	}
	ch := s.chunks[c]
	if ch == nil {
		return slot{}, false
	}
	return ch[i], ch[i].cu != 0
}

// set stores sl at t and reports whether t was new.
func (s *series) set(t time.Time, interval int64, sl slot) bool {
	c, i, ok := index(t, interval)
	if !ok {
		if s.odd == nil {
			s.odd = map[int64]slot{}
		}
		_, had := s.odd[t.UnixNano()]
		s.odd[t.UnixNano()] = sl
		return !had
	}
	ch := s.chunks[c]
	if ch == nil {
		ch = new([chunkLen]slot)
		s.chunks[c] = ch
	}
	had := ch[i].cu != 0
	ch[i] = sl
	return !had
}
