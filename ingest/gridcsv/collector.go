package gridcsv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// Defaults of Config.
const (
	// DefaultSourceName is the source name of the observations ("csv").
	DefaultSourceName = "csv"
	// CollectorName is the collector's name (`hashatlas collect grid-csv`).
	CollectorName = "grid-csv"
	// DefaultRequestsPerSecond limits requests to an http(s) source (one file a pass).
	DefaultRequestsPerSecond = 1
)

// Config says where the file is and how to read it.
type Config struct {
	// Location is a file path or an http(s) URL. Required.
	Location string
	// Preset is the file's format (Presets): PresetHashatlas ("" too), read as Columns, the
	// fixed fields and the time settings below say, or an operator's published format
	// (PresetEIA930Balance, PresetERCOTLoad), which fixes all of them: with a preset they must
	// be left unset (or at their defaults).
	Preset string
	// SourceName is the source of the observations (schemas.GridObservation.Source); use one
	// name per operator's series when several files are collected. Default: "csv", or the
	// preset's name for an operator's preset ("eia930-balance", "ercot-load").
	SourceName string
	// Columns maps fields to columns (ParseColumns). Default: DefaultColumns.
	Columns map[string]string
	// Region, Country, Metric and Unit, when set, fix that field for every row.
	Region, Country, Metric, Unit string
	// Interval is the interval of rows without an interval column. Default: 1h.
	Interval time.Duration
	// TimeFormat is rfc3339, unix, unix_ms or a Go layout. Default: rfc3339.
	TimeFormat string
	// TimeZone is the IANA zone of times without an offset. Default: UTC.
	TimeZone string
	// TimeLabel says what a row's time is: "start" of its interval or "end". Default: start.
	TimeLabel string
	// From and To, when set, keep only rows whose interval starts in [From, To).
	From, To time.Time
	// BatchSize is how many observations are published at once. Default:
	// grid.DefaultBatchSize.
	BatchSize int
	// HTTP sets timeouts, retries and the body limit for a URL, with the defaults of
	// ingest.HTTPConfig except RequestsPerSecond (0: DefaultRequestsPerSecond; negative: no
	// limit).
	HTTP ingest.HTTPConfig
}

func (c Config) withDefaults() Config {
	if c.Preset == "" {
		c.Preset = PresetHashatlas
	}
	if c.SourceName == "" {
		c.SourceName = presetSources[c.Preset]
		if c.SourceName == "" { // an unknown preset, which Validate refuses
			c.SourceName = DefaultSourceName
		}
	}
	if c.Columns == nil {
		c.Columns = DefaultColumns()
	}
	if c.Interval == 0 {
		c.Interval = time.Hour
	}
	if c.TimeFormat == "" {
		c.TimeFormat = TimeRFC3339
	}
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	if c.TimeLabel == "" {
		c.TimeLabel = "start"
	}
	c.HTTP.RequestsPerSecond = ingest.RateDefault(c.HTTP.RequestsPerSecond, DefaultRequestsPerSecond)
	return c
}

func (c Config) isURL() bool {
	return strings.HasPrefix(c.Location, "http://") || strings.HasPrefix(c.Location, "https://")
}

// Validate checks c after defaults are applied. It does not open the file.
func (c Config) Validate() error {
	if _, err := checkPreset(c.Preset); err != nil {
		return err
	}
	if set := c.presetConflicts(); len(set) > 0 {
		return fmt.Errorf("preset %s reads its own columns, times and units: %s do not apply to it (leave them unset, or use preset %s)",
			c.Preset, strings.Join(set, ", "), PresetHashatlas)
	}
	c = c.withDefaults()
	if c.Location == "" {
		return errors.New("no file or URL to read")
	}
	if c.isURL() {
		if u, err := url.Parse(c.Location); err != nil || u.Host == "" {
			return fmt.Errorf("url %q: want an http(s) URL with a host", ingest.RedactURL(c.Location))
		}
	}
	probe := schemas.GridObservation{Region: "X", Country: "US", Time: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		IntervalSeconds: 3600, Metric: schemas.GridDemand, Unit: schemas.UnitMW, Source: c.SourceName}
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("source name %q: %w", c.SourceName, err)
	}
	for field, v := range map[string]string{FieldRegion: c.Region, FieldCountry: c.Country, FieldMetric: c.Metric, FieldUnit: c.Unit} {
		if v == "" {
			continue
		}
		p := probe
		switch field {
		case FieldRegion:
			p.Region = v
		case FieldCountry:
			p.Country = v
		case FieldMetric:
			p.Metric, p.Unit = v, ""
		case FieldUnit:
			// Against the fixed metric, or against every unit when the metric is a column.
			p.Metric, p.Unit = c.Metric, v
		}
		err := p.Validate()
		switch field {
		case FieldMetric:
			err = fieldError(err, "metric")
		case FieldUnit:
			err = fieldError(err, "unit")
		}
		if err != nil {
			return fmt.Errorf("fixed %s %q: %w", field, v, err)
		}
	}
	for field, col := range c.Columns {
		known := false
		for _, f := range fields {
			known = known || f == field
		}
		if !known || col == "" {
			return fmt.Errorf("column mapping %s=%q: unknown field or empty column", field, col)
		}
	}
	if c.Interval < time.Second || c.Interval%time.Second != 0 || c.Interval > schemas.MaxIntervalSeconds*time.Second {
		return fmt.Errorf("interval %v: want whole seconds, 1s to %d s", c.Interval, schemas.MaxIntervalSeconds)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return fmt.Errorf("time zone %q: %w", c.TimeZone, err)
	}
	if c.TimeLabel != "start" && c.TimeLabel != "end" {
		return fmt.Errorf("time label %q: want start or end", c.TimeLabel)
	}
	if !c.From.IsZero() && !c.To.IsZero() && !c.From.Before(c.To) {
		return fmt.Errorf("from %s is not before to %s", c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
	}
	return nil
}

// presetConflicts names the settings of the configurable format that c sets although its
// preset is an operator's (which fixes them); their defaults count as unset.
func (c Config) presetConflicts() []string {
	if c.Preset == "" || c.Preset == PresetHashatlas {
		return nil
	}
	var set []string
	if c.Columns != nil && !maps.Equal(c.Columns, DefaultColumns()) {
		set = append(set, "the column mapping")
	}
	for _, f := range []struct{ name, v string }{{"region", c.Region}, {"country", c.Country}, {"metric", c.Metric}, {"unit", c.Unit}} {
		if f.v != "" {
			set = append(set, "a fixed "+f.name)
		}
	}
	if c.Interval != 0 && c.Interval != time.Hour {
		set = append(set, "the interval")
	}
	if c.TimeFormat != "" && c.TimeFormat != TimeRFC3339 {
		set = append(set, "the time format")
	}
	if c.TimeZone != "" && c.TimeZone != "UTC" {
		set = append(set, "the time zone")
	}
	if c.TimeLabel != "" && c.TimeLabel != "start" {
		set = append(set, "the time label")
	}
	return set
}

// fieldError keeps only the errors about field from a validation error.
func fieldError(err error, field string) error {
	if err == nil {
		return nil
	}
	var kept []error
	for _, e := range unjoin(err) {
		var fe *schemas.FieldError
		if errors.As(e, &fe) && fe.Field == field {
			kept = append(kept, e)
		}
	}
	return errors.Join(kept...)
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Collector is the grid-csv source: each pass reads the whole file and publishes the rows the
// grid topic does not have under its source name, and the rows whose content changed (each
// logged as a revision); rows already published with the same content are skipped. A bad row
// stops the pass with an error naming it, after publishing the rows before it; with a preset,
// values the grid schema refuses are the source's data and are logged, counted and skipped
// instead. It implements ingest.Collector.
type Collector struct {
	cfg    Config
	format Format
	http   *ingest.HTTPClient
	pub    ingest.Publisher
	topic  grid.Log
	log    logrus.FieldLogger
}

var _ ingest.Collector = (*Collector)(nil)

// NewCollector returns the collector. regions gives the country of rows without one; topic
// reads back the grid topic; transport may be nil; a nil log discards.
func NewCollector(cfg Config, regions *grid.Regions, pub ingest.Publisher, topic grid.Log, transport http.RoundTripper, log logrus.FieldLogger) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", CollectorName, err)
	}
	cfg = cfg.withDefaults()
	loc, _ := time.LoadLocation(cfg.TimeZone)
	log = ingest.OrDiscard(log)
	log = log.WithFields(logrus.Fields{"collector": CollectorName, "source": cfg.SourceName, "preset": cfg.Preset})
	return &Collector{
		cfg: cfg,
		format: Format{Preset: cfg.Preset, Columns: cfg.Columns, Region: cfg.Region, Country: cfg.Country, Metric: cfg.Metric, Unit: cfg.Unit,
			Interval: cfg.Interval, TimeFormat: cfg.TimeFormat, Location: loc, LabelEnd: cfg.TimeLabel == "end",
			Source: cfg.SourceName, Regions: regions},
		http:  ingest.NewHTTPClient(CollectorName, cfg.HTTP, transport, log),
		pub:   pub,
		topic: topic,
		log:   log,
	}, nil
}

// Name is "grid-csv".
func (c *Collector) Name() string { return CollectorName }

// Collect does one pass.
func (c *Collector) Collect(ctx context.Context) error {
	published, err := grid.LoadPublished(ctx, c.topic, c.cfg.SourceName)
	if err != nil {
		return err
	}
	r, name, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	w := grid.NewWriter(c.pub, published, c.cfg.BatchSize, c.log)
	outside := 0
	st, err := Read(r, name, c.format, func(row int, o schemas.GridObservation) error {
		if (!c.cfg.From.IsZero() && o.Time.Before(c.cfg.From)) || (!c.cfg.To.IsZero() && !o.Time.Before(c.cfg.To)) {
			outside++
			return nil
		}
		if err := w.Add(ctx, o); err != nil {
			return fmt.Errorf("%s row %d: %w", name, row, err)
		}
		return nil
	})
	if err != nil {
		// Publish the rows before the bad one: they are good, and the next pass skips them.
		if ferr := w.Flush(ctx); ferr != nil {
			err = fmt.Errorf("%w (and publishing the rows before it: %v)", err, ferr)
		}
	} else {
		err = w.Flush(ctx)
	}
	counts := w.Counts()
	fields := logrus.Fields{"file": name, "rows": st.Rows, "empty": st.Empty, "outside_range": outside,
		"new": counts.New, "revised": counts.Revised, "unchanged": counts.Unchanged}
	if st.Refused > 0 {
		fields["refused"] = st.Refused
		c.log.WithFields(logrus.Fields{"file": name, "refused": st.Refused, "first": st.FirstRefused}).
			Warn("grid csv values the grid schema refuses were skipped (the source's data, such as a negative demand)")
	}
	if err != nil {
		c.log.WithFields(fields).WithField("err", err).Warn("grid csv pass stopped early: what it published stays published")
		return fmt.Errorf("%s: %w", CollectorName, err)
	}
	c.log.WithFields(fields).Info("grid csv pass published")
	return nil
}

// open returns the file's reader and its name for errors (the URL with secrets redacted).
func (c *Collector) open(ctx context.Context) (io.ReadCloser, string, error) {
	if !c.cfg.isURL() {
		f, err := os.Open(c.cfg.Location)
		if err != nil {
			return nil, "", fmt.Errorf("%s: open the grid CSV: %w", CollectorName, err)
		}
		return f, c.cfg.Location, nil
	}
	body, err := c.http.Get(ctx, c.cfg.Location, http.Header{"Accept": []string{"text/csv, */*"}})
	if err != nil {
		return nil, "", err
	}
	return io.NopCloser(bytes.NewReader(body)), "GET " + ingest.RedactURL(c.cfg.Location), nil
}
