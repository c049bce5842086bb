package modeldata

import (
	_ "embed"
	"sort"
	"strings"
	"time"
)

// SitesFile is the table of listed miners' reported hashrate by site country, used in error
// messages.
const SitesFile = "sites.csv"

//go:embed sites.csv
var sitesCSV []byte

// SiteMaxAge is how long a site figure stands as a lower bound after the day it describes:
// a listed miner reports at least quarterly, and machines are retired within about a year.
const SiteMaxAge = 365 * 24 * time.Hour

// Site is one listed mining company's reported hashrate in one country on one day.
type Site struct {
	Company   string
	Day       time.Time // the day the figure describes (period_end)
	Published time.Time
	Country   string
	EHs       float64 // exahashes per second
	Pools     []string
	Source    string
	Line      int
}

var sitesHeader = []string{"company", "period_end", "published", "country", "ehs", "pools", "source"}

func (d *Data) parseSites(data []byte) error {
	const file = SitesFile
	if len(data) == 0 {
		return nil
	}
	recs, err := readCSV(file, data, sitesHeader)
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for _, r := range recs {
		f := r.f
		s := Site{Company: f["company"], Country: f["country"], Source: f["source"], Line: r.line}
		if !isSlug(s.Company) {
			return errf(file, r.line, "company %q is not a lower-case slug", s.Company)
		}
		if !IsCountry(s.Country) || s.Country == Unallocated {
			return errf(file, r.line, "country %q is not an ISO 3166-1 alpha-2 code", s.Country)
		}
		if s.Day, err = r.date(file, "period_end"); err != nil {
			return err
		}
		if s.Published, err = r.date(file, "published"); err != nil {
			return err
		}
		if s.Published.Before(s.Day) {
			return errf(file, r.line, "published %s is before the day the figure describes (%s)", f["published"], f["period_end"])
		}
		if s.EHs, err = parseNum(file, r.line, "ehs", f["ehs"], true); err != nil {
			return err
		}
		if s.EHs > 10000 {
			return errf(file, r.line, "ehs %v: more than the network has ever had", s.EHs)
		}
		for _, p := range strings.Split(f["pools"], ";") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if !isSlug(p) {
				return errf(file, r.line, "pool %q is not a lower-case slug", p)
			}
			s.Pools = append(s.Pools, p)
		}
		k := s.Company + "|" + f["period_end"] + "|" + s.Country
		if l, dup := seen[k]; dup {
			return errf(file, r.line, "%s in %s on %s already at line %d", s.Company, s.Country, f["period_end"], l)
		}
		seen[k] = r.line
		d.sites = append(d.sites, s)
	}
	sort.SliceStable(d.sites, func(i, j int) bool {
		a, b := d.sites[i], d.sites[j]
		if !a.Day.Equal(b.Day) {
			return a.Day.Before(b.Day)
		}
		if a.Company != b.Company {
			return a.Company < b.Company
		}
		return a.Country < b.Country
	})
	return nil
}

// Sites returns every site figure, by day, company and country.
func (d *Data) Sites() []Site { return append([]Site(nil), d.sites...) }

// SiteBoundsAt returns, by country, the hashrate (EH/s) that listed miners' own reports place
// there on t: for each company and country its latest figure describing a day on or before t
// and at most SiteMaxAge before it, summed over companies. It is a lower bound (the companies
// report only their own machines, and not every miner is listed).
func (d *Data) SiteBoundsAt(t time.Time) map[string]float64 {
	latest := map[string]Site{}
	for _, s := range d.sites {
		if s.Day.After(t) || t.Sub(s.Day) > SiteMaxAge {
			continue
		}
		k := s.Company + "|" + s.Country
		if cur, ok := latest[k]; !ok || s.Day.After(cur.Day) {
			latest[k] = s
		}
	}
	out := map[string]float64{}
	for _, k := range sortedKeys(latest) {
		s := latest[k]
		out[s.Country] += s.EHs
	}
	return out
}
