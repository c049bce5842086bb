package eia

import (
	"context"
	"fmt"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/sirupsen/logrus"
)

// hour is the interval of every EIA-930 hourly observation.
const hour = int64(time.Hour / time.Second)

// Collector is the "eia" source: each pass reads, for every respondent and route, the hours
// from where the grid topic leaves off (its last published hour minus the revision window; or
// From, for a backfill) up to the current hour (or To), query window by query window and page
// by page, and publishes each page as it arrives: new hours, and hours EIA revised (each
// logged), never an hour again with the same content. It implements ingest.Collector.
//
// Observations are hourly (interval_seconds 3600) in MWh, the energy of the hour as EIA
// publishes it ("megawatthours"); as a mean power it is the same number in MW. Time is the
// start of the hour in UTC (EIA labels hours by their end: see ParsePeriod).
//
// Rows with no value (null) are counted and skipped. Rows whose value the grid schema refuses
// (a negative demand, which EIA-930 data does contain for some hours) are logged, counted and
// skipped: they are the source's data, not a fault of the response. A response that is
// malformed, truncated, in other units or off the question asked stops the pass with an
// error naming the request; what earlier pages published stays published.
type Collector struct {
	cfg     Config
	client  *Client
	regions *grid.Regions
	pub     ingest.Publisher
	topic   grid.Log
	log     logrus.FieldLogger
}

var _ ingest.Collector = (*Collector)(nil)

// NewCollector returns the collector. Every respondent must be in regions (its country comes
// from there). topic reads back the grid topic to resume; a nil log discards.
func NewCollector(cfg Config, client *Client, regions *grid.Regions, pub ingest.Publisher, topic grid.Log, log logrus.FieldLogger) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", SourceName, err)
	}
	cfg = cfg.withDefaults()
	for _, r := range cfg.Respondents {
		if _, ok := regions.Country(r); !ok {
			return nil, fmt.Errorf("%s: respondent %q is not in the grid regions table %s: add it with its country", SourceName, r, regions.Name())
		}
	}
	log = ingest.OrDiscard(log)
	return &Collector{cfg: cfg, client: client, regions: regions, pub: pub, topic: topic, log: log.WithField("source", SourceName)}, nil
}

// Name is "eia".
func (c *Collector) Name() string { return SourceName }

// passStats counts what a pass did beyond the Writer's counts.
type passStats struct {
	pages, missing, rejected, unmapped int
}

// Collect does one pass.
func (c *Collector) Collect(ctx context.Context) error {
	published, err := grid.LoadPublished(ctx, c.topic, SourceName)
	if err != nil {
		return err
	}
	end := c.cfg.To
	if end.IsZero() {
		end = c.cfg.Now().UTC().Truncate(time.Hour)
	}
	w := grid.NewWriter(c.pub, published, 0, c.log)
	var st passStats
	err = c.collect(ctx, published, w, end, &st)
	counts := w.Counts()
	fields := logrus.Fields{"pages": st.pages, "new": counts.New, "revised": counts.Revised,
		"unchanged": counts.Unchanged, "missing": st.missing, "rejected": st.rejected, "unmapped": st.unmapped,
		"until": end.Format(time.RFC3339)}
	if err != nil {
		c.log.WithFields(fields).WithField("err", err).Warn("eia pass stopped early: what it published stays published, the next pass resumes after it")
		return err
	}
	c.log.WithFields(fields).Info("eia pass published")
	return nil
}

func (c *Collector) collect(ctx context.Context, published *grid.Published, w *grid.Writer, end time.Time, st *passStats) error {
	type job struct {
		route Route
		codes []string
	}
	var jobs []job
	if len(c.cfg.Types) > 0 {
		jobs = append(jobs, job{RegionData, c.cfg.Types})
	}
	if len(c.cfg.FuelTypes) > 0 {
		jobs = append(jobs, job{FuelTypeData, c.cfg.FuelTypes})
	}
	for _, j := range jobs {
		window := c.cfg.Window
		if window == 0 {
			window = time.Duration(max(1, c.cfg.PageLength/len(j.codes))) * time.Hour
		}
		for _, resp := range c.cfg.Respondents {
			start := c.startOf(published, j.route, resp, j.codes, end)
			for from := start; from.Before(end); {
				to := from.Add(window)
				if to.After(end) {
					to = end
				}
				q := Query{Route: j.route, Respondents: []string{resp}, Codes: j.codes, From: from, To: to}
				if err := c.fetch(ctx, q, w, st); err != nil {
					return err
				}
				c.log.WithFields(logrus.Fields{"route": j.route.Name, "respondent": resp, "reached": to.Format(time.RFC3339)}).
					Debug("eia window done")
				from = to
			}
		}
	}
	return nil
}

// startOf is where a pass starts for one respondent of a route: From for a backfill; else the
// revision window before the latest hour the topic holds for any of its codes; else (nothing
// published yet) FirstRun before end.
func (c *Collector) startOf(published *grid.Published, r Route, resp string, codes []string, end time.Time) time.Time {
	if !c.cfg.From.IsZero() {
		return c.cfg.From.UTC()
	}
	var last time.Time
	for _, code := range codes {
		if t, ok := published.Last(resp, r.metrics[code], hour); ok && t.After(last) {
			last = t
		}
	}
	if last.IsZero() {
		return end.Add(-c.cfg.FirstRun)
	}
	return last.Add(time.Hour).Add(-c.cfg.RevisionWindow).Truncate(time.Hour)
}

func (c *Collector) fetch(ctx context.Context, q Query, w *grid.Writer, st *passStats) error {
	country, _ := c.regions.Country(q.Respondents[0])
	unmappedSeen := map[string]bool{}
	return c.client.Fetch(ctx, q, func(offset int, p Page) error {
		st.pages++
		for _, warning := range p.Warnings {
			c.log.WithFields(logrus.Fields{"query": q.String(), "offset": offset, "warning": warning}).Warn("eia answered with a warning; paging on by response.total")
		}
		for _, r := range p.Rows {
			switch {
			case r.Missing:
				st.missing++
				continue
			case r.Metric == "":
				st.unmapped++
				if !unmappedSeen[r.Code] {
					unmappedSeen[r.Code] = true
					c.log.WithFields(logrus.Fields{"query": q.String(), "code": r.Code}).Warn("eia series code hashatlas does not map: rows skipped")
				}
				continue
			}
			o := schemas.GridObservation{Region: r.Respondent, Country: country, Time: r.Start, IntervalSeconds: hour,
				Metric: r.Metric, Value: r.Value, Unit: schemas.UnitMWh, Source: SourceName}
			if err := o.Validate(); err != nil {
				st.rejected++
				c.log.WithFields(logrus.Fields{"query": q.String(), "key": o.Key(), "value": r.Value, "err": err}).
					Warn("eia value refused by the grid schema: row skipped")
				continue
			}
			if err := w.Add(ctx, o); err != nil {
				return fmt.Errorf("%s: %s: %w", SourceName, q, err)
			}
		}
		// Publish page by page, so that a later bad page leaves this one published.
		if err := w.Flush(ctx); err != nil {
			return fmt.Errorf("%s: %s: %w", SourceName, q, err)
		}
		return nil
	})
}
