package pools

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCanonicalMapsARenamedPoolsOldSlugToItsNewOne(t *testing.T) {
	for in, want := range map[string]string{
		"slushpool":   "braiinspool", // SlushPool became Braiins Pool (mempool/mining-pools a1a7d86)
		"luckypool":   "gdpool",      // luckyPool became GDPool (mempool/mining-pools 3ec7756)
		"braiinspool": "braiinspool", // a current slug stays
		"foundryusa":  "foundryusa",
		"unknown":     "unknown",
		"":            "",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEveryAliasCitesItsRenameAndLandsOnAPoolOfMempoolsList: each row has a dated source with
// an address, and its new slug is a pool of the shared copy of mempool's current pool list
// (pools-v2.json) while its old slug is not — so the table maps names mempool has dropped to
// ones it uses.
func TestEveryAliasCitesItsRenameAndLandsOnAPoolOfMempoolsList(t *testing.T) {
	as := Aliases()
	if len(as) < 2 {
		t.Fatalf("%d aliases, want at least slushpool and luckypool", len(as))
	}
	reg, err := LoadFile(filepath.Join(dataDir(), "pools-v2.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range reg.Slugs() {
		have[s] = true
	}
	for _, a := range as {
		if !strings.Contains(a.Source, "https://github.com/mempool/mining-pools/commit/") || a.Renamed.IsZero() {
			t.Errorf("%s → %s: source %q, renamed %v", a.Old, a.New, a.Source, a.Renamed)
		}
		if !have[a.New] || have[a.Old] {
			t.Errorf("%s → %s: in mempool's current list: old %v, new %v; want the new slug only", a.Old, a.New, have[a.Old], have[a.New])
		}
	}
	if !Default().hasSlug("braiinspool") {
		t.Error("the default registry lacks braiinspool, the target of slushpool")
	}
}

func (r *Registry) hasSlug(s string) bool {
	for _, x := range r.slugs {
		if x == s {
			return true
		}
	}
	return false
}

func TestParseAliasesRefusesBadTables(t *testing.T) {
	const head = "old_slug,new_slug,renamed,source\n"
	const src = ",2022-11-22,https://example.org/commit/1\n"
	for name, tc := range map[string]struct{ body, want string }{
		"a wrong header":                     {"from,to,renamed,source\n", "header"},
		"an old slug that is no slug":        {head + "Slush Pool,braiinspool" + src, "not a slug"},
		"a pool renamed to itself":           {head + "slushpool,slushpool" + src, "to itself"},
		"an old slug renamed twice":          {head + "a,b" + src + "a,c" + src, "both rename a"},
		"a chain (a → b → c)":                {head + "a,b" + src + "b,c" + src, "straight to the current one"},
		"a cycle (a → b → a)":                {head + "a,b" + src + "b,a" + src, "straight to the current one"},
		"a date that is no date":             {head + "a,b,2022-13-01,https://example.org/x\n", "not a date"},
		"a source without an address":        {head + "a,b,2022-11-22,the pool said so\n", "cite the change"},
		"a row with a missing column":        {head + "a,b,2022-11-22\n", "wrong number of fields"},
		"an empty table without the header":  {"", "header"},
		"a new slug with upper-case letters": {head + "a,B" + src, "not a slug"},
	} {
		if _, err := parseAliases([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
	as, err := parseAliases([]byte("# a comment\n" + head + "a,b" + src))
	if err != nil || len(as) != 1 || as[0].Old != "a" || as[0].New != "b" || as[0].Renamed.Format("2006-01-02") != "2022-11-22" {
		t.Fatalf("a valid table: %+v, %v", as, err)
	}
}
