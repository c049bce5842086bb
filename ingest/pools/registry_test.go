package pools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func dataDir() string {
	if d := os.Getenv("HASHATLAS_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

func TestSlugFollowsTheRegistryRule(t *testing.T) {
	for in, want := range map[string]string{"Foundry USA": "foundryusa", "BTC.com": "btccom", "Huobi.pool": "huobipool", "MARA Pool": "marapool", "七彩": ""} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAttributionPrefersAddressesThenTagsInRegistryOrder(t *testing.T) {
	reg, err := Parse([]byte(`[
	 {"id":1,"name":"Alpha","addresses":["bc1alpha"],"tags":["/alpha/"],"link":""},
	 {"id":2,"name":"Beta Pool","addresses":["bc1beta"],"tags":["beta","/alpha/"],"link":""}
	]`), "v-test")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		addrs []string
		ascii string
		want  Attribution
	}{
		{"an address match wins over a tag match", []string{"bc1beta"}, "/alpha/", Attribution{"betapool", MethodAddress, "v-test"}},
		{"the first pool in the registry wins among addresses", []string{"bc1beta", "bc1alpha"}, "", Attribution{"alpha", MethodAddress, "v-test"}},
		{"tags match case-insensitively", []string{"bc1other"}, "xx/ALPHA/yy", Attribution{"alpha", MethodTag, "v-test"}},
		{"the first pool whose tag matches wins", nil, "mined by BETA /alpha/", Attribution{"alpha", MethodTag, "v-test"}},
		{"nothing matches: unknown", []string{"bc1x"}, "hello", Attribution{Unknown, MethodUnknown, "v-test"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := reg.Attribute(tc.addrs, tc.ascii); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseRejectsBadRegistries(t *testing.T) {
	for name, body := range map[string]string{
		"bad regex names the entry and tag": `[{"id":1,"name":"A","addresses":[],"tags":["(unclosed"],"link":""}]`,
		"unknown field":                     `[{"id":1,"name":"A","addresses":[],"tags":[],"link":"","extra":1}]`,
		"empty":                             `[]`,
		"truncated":                         `[{"id":1,"name":"A"`,
	} {
		if _, err := Parse([]byte(body), ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := Parse([]byte(`[{"id":1,"name":"A","addresses":[],"tags":["(unclosed"],"link":""}]`), "")
	if err == nil || !strings.Contains(err.Error(), "entry 0 (A)") || !strings.Contains(err.Error(), "(unclosed") {
		t.Errorf("error %v does not name the entry and the tag", err)
	}
}

func TestTheSharedMempoolRegistryLoads(t *testing.T) {
	reg, err := LoadFile(filepath.Join(dataDir(), "pools-v2.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Len() != 168 || !strings.HasPrefix(reg.Version(), "sha256:") {
		t.Fatalf("loaded %d pools, version %q; want 168 and a digest version", reg.Len(), reg.Version())
	}
	if got := reg.Attribute(nil, "\x03\xa0\xbb\x0d/Foundry USA Pool #dropgold/"); got.Pool != "foundryusa" {
		t.Fatalf("a Foundry coinbase tag attributed to %q", got.Pool)
	}
}

func TestDefaultRegistryNamesThePoolsOfTheReferenceData(t *testing.T) {
	reg := Default()
	want := []string{"foundryusa", "antpool", "viabtc", "f2pool", "spiderpool", "marapool", "secpool", "luxor",
		"binancepool", "sbicrypto", "braiinspool", "btccom", "whitepool", "ocean", "poolin", "ultimuspool", "miningsquared"}
	have := map[string]bool{}
	for _, s := range reg.Slugs() {
		have[s] = true
	}
	for _, s := range want {
		if !have[s] {
			t.Errorf("the default registry lacks %s", s)
		}
	}
	for tag, pool := range map[string]string{
		"/Foundry USA Pool #dropgold/": "foundryusa", "Mined by AntPool bj": "antpool", "/ViaBTC/Mined by x/": "viabtc",
		"MARA Pool": "marapool", "/slush/": "braiinspool", "OCEAN.XYZ": "ocean",
	} {
		if got := reg.Attribute(nil, "\x03\x01\x02"+tag); got.Pool != pool {
			t.Errorf("tag %q attributed to %q, want %q", tag, got.Pool, pool)
		}
	}
	if !strings.HasPrefix(reg.Version(), "default@") {
		t.Errorf("version %q", reg.Version())
	}
}

func TestPrintableASCIIDropsControlAndHighBytes(t *testing.T) {
	if got := PrintableASCII([]byte{0x03, 'a', 0x00, 'B', 0xff, ' ', '~', 0x7f}); got != "aB ~" {
		t.Fatalf("got %q", got)
	}
}
