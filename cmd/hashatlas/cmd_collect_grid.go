package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/eia"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/ingest/gridcsv"
	"github.com/hashatlas/hashatlas/schemas"
	"github.com/hashatlas/hashatlas/sinks/kafka"
)

// The grid-power sources of `hashatlas collect`: eia (EIA Open Data API v2, Form EIA-930) and
// grid-csv (any operator's CSV, file or URL, or a file as an operator publishes it, by preset:
// EIA-930's six-month BALANCE files, ERCOT's hourly load by weather zone).
func init() {
	registerCollector("eia", setupCollectEIA)
	registerCollector(gridcsv.CollectorName, setupCollectGridCSV)
}

// gridTopic reads the grid topic back for the grid collectors (grid.Log).
type gridTopic struct{ tr *kafka.TopicReader }

func (g gridTopic) ReadGrid(ctx context.Context, fn func(schemas.GridObservation) error) error {
	_, err := g.tr.ReadAll(ctx, []string{schemas.TopicGrid}, func(r kafka.Record) error {
		if o, ok := r.Message.(*schemas.GridObservation); ok {
			return fn(*o)
		}
		return nil
	}, nil) // undecodable records are the consumers' to dead-letter; they are no observation
	return err
}

// timeFlag is a UTC time flag: 2024-01-01, 2024-01-01T05 (an hour) or RFC 3339.
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.UTC().Format(time.RFC3339)
}

func (f timeFlag) Set(s string) error {
	if s == "" {
		*f.t = time.Time{}
		return nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			*f.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("want YYYY-MM-DD, YYYY-MM-DDTHH (UTC) or an RFC 3339 time")
}

// gridFlags are the flags both grid sources share: the backfill range and the regions table.
type gridFlags struct {
	from, to time.Time
	regions  string
}

func (g *gridFlags) register(c *cli) {
	c.fs.Var(timeFlag{&g.from}, "from", "backfill from this time (UTC; YYYY-MM-DD, YYYY-MM-DDTHH or RFC 3339): the range is read again, and only what the grid topic lacks or what changed is published (empty: resume where the topic leaves off)")
	c.fs.Var(timeFlag{&g.to}, "to", "stop before this time (UTC; empty: the current hour)")
	c.fs.StringVar(&g.regions, "grid.regions", "", "region→country table in the regions.csv format (region,country,kind,name,source) (empty: the table built into hashatlas)")
}

func (g *gridFlags) loadRegions() (*grid.Regions, error) {
	if g.regions == "" {
		return grid.DefaultRegions(), nil
	}
	return grid.LoadRegionsFile(g.regions)
}

// splitList reads a comma-separated flag; "" is the empty list.
func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func setupCollectEIA(c *cli) collectorBuilder {
	var cfg eia.Config
	var g gridFlags
	g.register(c)
	var respondents, types, fuels string
	c.fs.StringVar(&cfg.BaseURL, "eia.url", eia.DefaultBaseURL, "base URL of the EIA Open Data API v2")
	c.fs.StringVar(&cfg.APIKey, "eia.api-key", "", "EIA API key (set it through HASHATLAS_EIA_API_KEY or --eia.api-key-file, not the command line; never logged)")
	c.fs.StringVar(&cfg.APIKeyFile, "eia.api-key-file", "", "file holding the EIA API key")
	c.fs.StringVar(&respondents, "eia.respondents", strings.Join(eia.DefaultRespondents, ","), "balancing authorities to collect (EIA respondent codes, comma-separated; each must be in the regions table)")
	c.fs.StringVar(&types, "eia.types", strings.Join(eia.DefaultTypes(), ","), "region-data series: D demand, DF day-ahead demand forecast, NG net generation, TI total interchange (empty: none)")
	c.fs.StringVar(&fuels, "eia.fuel-types", strings.Join(eia.DefaultFuelTypes(), ","), "fuel-type-data series, net generation by energy source (empty: none)")
	c.fs.DurationVar(&cfg.RevisionWindow, "eia.revision-window", eia.DefaultRevisionWindow, "how far before its last published hour a respondent is read again, to publish values EIA revised")
	c.fs.DurationVar(&cfg.FirstRun, "eia.first-run", eia.DefaultFirstRun, "how far back a respondent the topic has nothing of starts (without --from)")
	c.fs.IntVar(&cfg.PageLength, "eia.page-length", eia.MaxPageLength, "rows per request (the API returns at most 5000)")
	c.fs.DurationVar(&cfg.Window, "eia.window", 0, "span of one query, paged by offset (0: the span that fills about one page)")
	c.fs.Float64Var(&cfg.HTTP.RequestsPerSecond, "eia.requests-per-second", eia.DefaultRequestsPerSecond, "request rate limit (negative: none, for a local server)")
	c.fs.DurationVar(&cfg.HTTP.Timeout, "eia.timeout", eia.DefaultTimeout, "timeout of each request, body included")
	c.addValidator(func() error {
		cfg.Respondents, cfg.Types, cfg.FuelTypes = splitList(respondents), splitList(types), splitList(fuels)
		cfg.From, cfg.To = g.from, g.to
		return namedErr("eia", cfg.Validate())
	})
	return func(ctx context.Context, pub ingest.Publisher, log *kafka.TopicReader) (ingest.Collector, error) {
		regions, err := g.loadRegions()
		if err != nil {
			return nil, err
		}
		client, err := eia.NewClient(cfg, nil, c.logger())
		if err != nil {
			return nil, err
		}
		return eia.NewCollector(cfg, client, regions, pub, gridTopic{log}, c.logger())
	}
}

// gridCSVFormatFlags are the flags of the configurable format, which a preset fixes.
var gridCSVFormatFlags = []string{"gridcsv.columns", "gridcsv.region", "gridcsv.country", "gridcsv.metric", "gridcsv.unit",
	"gridcsv.interval", "gridcsv.time-format", "gridcsv.time-zone", "gridcsv.time-label"}

func setupCollectGridCSV(c *cli) collectorBuilder {
	var cfg gridcsv.Config
	var g gridFlags
	g.register(c)
	var columns string
	c.fs.StringVar(&cfg.Location, "gridcsv.file", "", "the CSV: a file path or an http(s) URL (gzip is detected)")
	c.fs.StringVar(&cfg.Preset, "gridcsv.preset", gridcsv.PresetHashatlas, "the file's format: "+gridcsv.PresetHashatlas+
		" (the columns of --gridcsv.columns, region,time,metric,value,unit by default), "+gridcsv.PresetEIA930Balance+
		" (an EIA-930 six-month BALANCE file as EIA publishes it: every balancing authority's demand, forecast, net generation, interchange and generation by fuel, hourly, in MW) or "+
		gridcsv.PresetERCOTLoad+" (ERCOT's hourly load by weather zone, OperDay/HourEnding/DSTFlag in US Central time: the ERCOT total as region ERCO's demand, in MW); a preset reads its own columns, times and units")
	c.fs.StringVar(&columns, "gridcsv.columns", "", "column mapping field=column,… for fields region, country, time, metric, value, unit, interval (default: each field's own name; interval_seconds)")
	c.fs.StringVar(&cfg.Region, "gridcsv.region", "", "fixed region for every row (instead of a column)")
	c.fs.StringVar(&cfg.Country, "gridcsv.country", "", "fixed country for every row (default: a country column, else the regions table)")
	c.fs.StringVar(&cfg.Metric, "gridcsv.metric", "", "fixed metric for every row: "+strings.Join(schemas.GridMetrics(), ", "))
	c.fs.StringVar(&cfg.Unit, "gridcsv.unit", "", "fixed unit for every row: MW, MWh, USD/MWh or flag")
	c.fs.DurationVar(&cfg.Interval, "gridcsv.interval", time.Hour, "interval of rows without an interval column")
	c.fs.StringVar(&cfg.TimeFormat, "gridcsv.time-format", gridcsv.TimeRFC3339, "rfc3339, unix, unix_ms or a Go layout such as \"2006-01-02 15:04\"")
	c.fs.StringVar(&cfg.TimeZone, "gridcsv.time-zone", "UTC", "IANA time zone of times written without an offset")
	c.fs.StringVar(&cfg.TimeLabel, "gridcsv.time-label", "start", "what a row's time marks: the start or the end of its interval")
	c.fs.StringVar(&cfg.SourceName, "gridcsv.source-name", "", "source name of the observations, one per operator's series (empty: "+gridcsv.DefaultSourceName+", or the preset's name)")
	c.fs.Float64Var(&cfg.HTTP.RequestsPerSecond, "gridcsv.requests-per-second", gridcsv.DefaultRequestsPerSecond, "request rate limit for a URL (negative: none)")
	c.fs.DurationVar(&cfg.HTTP.Timeout, "gridcsv.timeout", 60*time.Second, "timeout of the request for a URL, body included")
	c.addValidator(func() error {
		if cfg.Preset == "" {
			cfg.Preset = gridcsv.PresetHashatlas
		}
		if !slices.Contains(gridcsv.Presets(), cfg.Preset) {
			return flagErr("gridcsv.preset", cfg.Preset, "want one of "+strings.Join(gridcsv.Presets(), ", "))
		}
		if cfg.Preset != gridcsv.PresetHashatlas {
			for _, name := range gridCSVFormatFlags {
				if f := c.fs.Lookup(name); f.Value.String() != f.DefValue {
					return flagErr(name, f.Value.String(), fmt.Sprintf("does not apply to --gridcsv.preset=%s, which reads its own columns, times and units (leave it unset, or use --gridcsv.preset=%s)",
						cfg.Preset, gridcsv.PresetHashatlas))
				}
			}
		}
		m, err := gridcsv.ParseColumns(columns)
		if err != nil {
			return flagErr("gridcsv.columns", columns, err.Error())
		}
		cfg.Columns, cfg.From, cfg.To = m, g.from, g.to
		return namedErr("gridcsv", cfg.Validate())
	})
	return func(ctx context.Context, pub ingest.Publisher, log *kafka.TopicReader) (ingest.Collector, error) {
		regions, err := g.loadRegions()
		if err != nil {
			return nil, err
		}
		col, err := gridcsv.NewCollector(cfg, regions, pub, gridTopic{log}, nil, c.logger())
		if err != nil {
			return nil, err
		}
		return gridCSVCollector{col, cfg.Preset}, nil
	}
}

// gridCSVCollector is the grid-csv collector whose header errors say which preset read the
// file and which flag chooses another.
type gridCSVCollector struct {
	*gridcsv.Collector
	preset string
}

func (g gridCSVCollector) Collect(ctx context.Context) error {
	err := g.Collector.Collect(ctx)
	var he *gridcsv.HeaderError
	if errors.As(err, &he) {
		return fmt.Errorf("%w (read as --gridcsv.preset=%s, env %s; presets: %s)", err, g.preset, envName("gridcsv.preset"),
			strings.Join(gridcsv.Presets(), ", "))
	}
	return err
}
