package pools

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"strings"
	"sync"
	"time"
)

// aliasesCSV is the rename table (aliases.csv): old_slug, new_slug, renamed (the date the
// rename reached mempool's pool list), source (the change that made it, with its address).
//
//go:embed aliases.csv
var aliasesCSV []byte

// Alias is one rename of a pool: the slug it had, the slug it has now.
type Alias struct {
	Old, New string
	// Renamed is the day the rename reached mempool's pool list (UTC).
	Renamed time.Time
	// Source cites the change that made the rename.
	Source string
}

var aliases = sync.OnceValues(func() ([]Alias, error) { return parseAliases(aliasesCSV) })

// Aliases returns the rename table (a new slice), in the order of aliases.csv.
func Aliases() []Alias {
	a, err := aliases()
	if err != nil {
		// aliases.csv is part of the binary and covered by tests; it cannot be invalid.
		panic("pool aliases: " + err.Error())
	}
	return append([]Alias(nil), a...)
}

// Canonical returns the slug a pool goes by now: the new slug of an old one in the rename
// table (slushpool → braiinspool), any other slug unchanged. It is for identifiers a source
// gives for pools (mempool's slugs and names), so that a renamed pool stays one series; it does
// not apply to a registry's own attributions, which name pools as that registry does.
func Canonical(slug string) string {
	for _, a := range Aliases() {
		if a.Old == slug {
			return a.New
		}
	}
	return slug
}

// parseAliases reads and checks a rename table: both slugs are slugs (Slug leaves them as
// they are) and differ, an old slug appears once and is no row's new slug (every row maps
// straight to the current slug, so that no chain or cycle needs following), and every row has a
// date and a source with an address.
func parseAliases(data []byte) ([]Alias, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = 4
	recs, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "old_slug,new_slug,renamed,source" {
		return nil, fmt.Errorf("the header must be old_slug,new_slug,renamed,source")
	}
	var out []Alias
	olds, news := map[string]int{}, map[string]int{}
	for i, rec := range recs[1:] {
		line := i + 2
		a := Alias{Old: rec[0], New: rec[1], Source: strings.TrimSpace(rec[3])}
		for _, s := range []string{a.Old, a.New} {
			if s == "" || Slug(s) != s {
				return nil, fmt.Errorf("row %d: %q is not a slug (lower-case letters and digits)", line, s)
			}
		}
		if a.Old == a.New {
			return nil, fmt.Errorf("row %d: %s is renamed to itself", line, a.Old)
		}
		if j, dup := olds[a.Old]; dup {
			return nil, fmt.Errorf("rows %d and %d both rename %s", j, line, a.Old)
		}
		olds[a.Old], news[a.New] = line, line
		if a.Renamed, err = time.Parse(time.DateOnly, rec[2]); err != nil {
			return nil, fmt.Errorf("row %d: renamed %q is not a date (YYYY-MM-DD)", line, rec[2])
		}
		if !strings.Contains(a.Source, "https://") {
			return nil, fmt.Errorf("row %d (%s): the source must cite the change with its address", line, a.Old)
		}
		out = append(out, a)
	}
	for old, line := range olds {
		if j, ok := news[old]; ok {
			return nil, fmt.Errorf("row %d renames %s, which row %d gives as a new slug: map every old slug straight to the current one", line, old, j)
		}
	}
	return out, nil
}
