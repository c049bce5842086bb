package modeldata

import (
	_ "embed"
	"sort"
	"strings"
	"time"
)

// ReferencesFile is the table of published country shares of hashrate (maps, surveys and
// third parties' models), used in error messages.
const ReferencesFile = "references.csv"

//go:embed references.csv
var referencesCSV []byte

// Kinds of a reference: how its figures were made. Maps and surveys are evidence (the prior
// of METHOD.md §6.8); models are third parties' estimates, scored against and never used.
const (
	KindMap    = "map"    // geolocation of miners (e.g. the CCAF mining map)
	KindSurvey = "survey" // miners' own statements of where their machines are
	KindModel  = "model"  // a third party's modelled estimate: a reference only
)

// Caveats a source states about one of its own figures.
const (
	// CaveatProxy: the source says the share is inflated by miners routing through proxies
	// or VPNs located in that country.
	CaveatProxy = "proxy"
	// CaveatConcealed: the source says the country's real share is hidden (understated),
	// e.g. after a ban.
	CaveatConcealed = "concealed"
)

// Reference is one published figure: the share of hashrate in Country over Period, as
// published on Published by the release Source.
type Reference struct {
	Source    string // one release of one publisher (a slug)
	Kind      string
	Period    Period // both ends set
	Country   string // ISO 3166-1 alpha-2, or XX for the source's "other / undetermined"
	Share     float64
	Published time.Time
	Caveat    string
	// Coverage is the fraction of the network's hashrate the source says its figures describe
	// (a survey of miners holding 48 % of it: 0.48); 1 when the source describes the whole
	// network.
	Coverage float64
	Citation string
	Line     int
}

// CountryMap is one release's country shares for one period (its rows of kind map or
// survey), with the source's caveats.
type CountryMap struct {
	Source    string
	Kind      string
	Period    Period
	Published time.Time
	// Shares as published, by country (XX: the source's "other"). They may sum to less
	// than 1 when the source names only its largest countries.
	Shares    map[string]float64
	Proxy     []string // countries the source says proxies inflate (sorted)
	Concealed []string // countries the source says hide hashrate (sorted)
	Coverage  float64  // the fraction of the network the shares describe (Reference.Coverage)
}

// referencesHeader is references.csv's header; a file without the coverage column
// (referencesHeaderV1) is accepted, its figures describing the whole network.
var (
	referencesHeader   = []string{"source", "kind", "period_start", "period_end", "country", "share", "published", "caveat", "coverage", "citation"}
	referencesHeaderV1 = []string{"source", "kind", "period_start", "period_end", "country", "share", "published", "caveat", "citation"}
)

// ShareSumMax is how far above 1 one release's shares for one period may sum (rounding in
// the published figures).
const ShareSumMax = 1.005

func (d *Data) parseReferences(data []byte) error {
	const file = ReferencesFile
	if len(data) == 0 {
		return nil
	}
	recs, err := readCSV(file, data, referencesHeader, referencesHeaderV1)
	if err != nil {
		return err
	}
	type srcInfo struct {
		kind      string
		published time.Time
		line      int
	}
	srcs := map[string]srcInfo{}
	type key struct{ source, from, to, country string }
	seen := map[key]int{}
	sums := map[key]float64{}
	covers := map[key]float64{}
	for _, r := range recs {
		f := r.f
		ref := Reference{Source: f["source"], Kind: f["kind"], Country: f["country"], Caveat: f["caveat"], Citation: f["citation"], Line: r.line}
		if !isSlug(ref.Source) {
			return errf(file, r.line, "source %q is not a lower-case slug naming one release", ref.Source)
		}
		switch ref.Kind {
		case KindMap, KindSurvey, KindModel:
		default:
			return errf(file, r.line, "kind %q, want %s, %s or %s", ref.Kind, KindMap, KindSurvey, KindModel)
		}
		if !IsCountry(ref.Country) {
			return errf(file, r.line, "country %q is not an ISO 3166-1 alpha-2 code (or XX for the source's other)", ref.Country)
		}
		if ref.Share, err = parseNum(file, r.line, "share", f["share"], false); err != nil {
			return err
		}
		if ref.Share > 1 {
			return errf(file, r.line, "share is %v, want a fraction ≤ 1", ref.Share)
		}
		if ref.Period.From, err = r.date(file, "period_start"); err != nil {
			return err
		}
		if ref.Period.To, err = r.date(file, "period_end"); err != nil {
			return err
		}
		if ref.Period.To.Before(ref.Period.From) {
			return errf(file, r.line, "period_end %s is before period_start %s", f["period_end"], f["period_start"])
		}
		if ref.Published, err = r.date(file, "published"); err != nil {
			return err
		}
		if ref.Published.Before(ref.Period.From) {
			return errf(file, r.line, "published %s is before the period it describes starts (%s)", f["published"], f["period_start"])
		}
		switch ref.Caveat {
		case "", CaveatProxy, CaveatConcealed:
		default:
			return errf(file, r.line, "caveat %q, want empty, %s or %s", ref.Caveat, CaveatProxy, CaveatConcealed)
		}
		ref.Coverage = 1
		if f["coverage"] != "" {
			if ref.Coverage, err = parseNum(file, r.line, "coverage", f["coverage"], true); err != nil {
				return err
			}
			if ref.Coverage > 1 {
				return errf(file, r.line, "coverage is %v, want a fraction of the network in (0, 1]", ref.Coverage)
			}
		}
		if ref.Caveat != "" && ref.Country == Unallocated {
			return errf(file, r.line, "caveat %s on XX: a caveat names a country", ref.Caveat)
		}
		if strings.TrimSpace(ref.Citation) == "" {
			return errf(file, r.line, "missing citation")
		}
		if s, ok := srcs[ref.Source]; !ok {
			srcs[ref.Source] = srcInfo{ref.Kind, ref.Published, r.line}
		} else if s.kind != ref.Kind || !s.published.Equal(ref.Published) {
			return errf(file, r.line, "source %s has kind %s published %s at line %d; one kind and one published date per release",
				ref.Source, s.kind, s.published.Format(dateLayout), s.line)
		}
		k := key{ref.Source, f["period_start"], f["period_end"], ref.Country}
		if l, dup := seen[k]; dup {
			return errf(file, r.line, "country %s of %s for %s already at line %d", ref.Country, ref.Source, ref.Period, l)
		}
		seen[k] = r.line
		sk := key{ref.Source, f["period_start"], f["period_end"], ""}
		if c, ok := covers[sk]; ok && c != ref.Coverage {
			return errf(file, r.line, "coverage of %s for %s is %v, but an earlier line says %v; one coverage per release and period", ref.Source, ref.Period, ref.Coverage, c)
		}
		covers[sk] = ref.Coverage
		if sums[sk] += ref.Share; sums[sk] > ShareSumMax {
			return errf(file, r.line, "shares of %s for %s sum to %.4f, want ≤ %v", ref.Source, ref.Period, sums[sk], ShareSumMax)
		}
		d.refs = append(d.refs, ref)
	}
	sort.SliceStable(d.refs, func(i, j int) bool {
		a, b := d.refs[i], d.refs[j]
		if !a.Published.Equal(b.Published) {
			return a.Published.Before(b.Published)
		}
		if a.Source != b.Source {
			return a.Source < b.Source
		}
		if !a.Period.From.Equal(b.Period.From) {
			return a.Period.From.Before(b.Period.From)
		}
		return a.Country < b.Country
	})
	d.maps = buildMaps(d.refs)
	return nil
}

// References returns every published figure, by published day, source, period and country.
func (d *Data) References() []Reference { return append([]Reference(nil), d.refs...) }

// Maps returns the releases' country maps usable as evidence (kinds map and survey), one per
// source and period, by period end (then published day, then source). They are built once per
// data set (the model asks for them in every window); the caller must not modify them.
func (d *Data) Maps() []CountryMap { return d.maps }

// buildMaps groups refs (of kinds map and survey) into the releases' country maps.
func buildMaps(refs []Reference) []CountryMap {
	type key struct {
		source string
		from   time.Time
	}
	idx := map[key]int{}
	var out []CountryMap
	for _, r := range refs {
		if r.Kind == KindModel {
			continue
		}
		k := key{r.Source, r.Period.From}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, CountryMap{Source: r.Source, Kind: r.Kind, Period: r.Period, Published: r.Published, Shares: map[string]float64{}, Coverage: r.Coverage})
		}
		m := &out[i]
		m.Shares[r.Country] = r.Share
		switch r.Caveat {
		case CaveatProxy:
			m.Proxy = append(m.Proxy, r.Country)
		case CaveatConcealed:
			m.Concealed = append(m.Concealed, r.Country)
		}
	}
	for i := range out {
		sort.Strings(out[i].Proxy)
		sort.Strings(out[i].Concealed)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Period.To.Equal(b.Period.To) {
			return a.Period.To.Before(b.Period.To)
		}
		if !a.Published.Equal(b.Published) {
			return a.Published.Before(b.Published)
		}
		return a.Source < b.Source
	})
	return out
}

// Without returns the data without the references of source: the model scored against a
// source's figure must not have learned from them (leave-one-source-out). It returns d when
// source has no reference; otherwise the result's version derives from d's and source.
func (d *Data) Without(source string) *Data {
	var keep []Reference
	for _, r := range d.refs {
		if r.Source != source {
			keep = append(keep, r)
		}
	}
	if len(keep) == len(d.refs) {
		return d
	}
	out := *d
	out.refs = keep
	out.maps = buildMaps(keep)
	out.version = derivedVersion(d.version, "without "+source)
	return &out
}
