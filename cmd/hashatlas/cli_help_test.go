package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelpOfCommandsWithArgumentsAndFlagsBeforeThem (issue 16, item 3): report, sql and
// collect show their help for --help (or -h) with or without their argument, exit 0, and take
// flags before their argument as well as after it.
func TestHelpOfCommandsWithArgumentsAndFlagsBeforeThem(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"report", "--help"}, []string{"hashatlas report: print estimates", "Usage: hashatlas report KIND [flags]", "KIND is one of network, pools, countries", "--window (HASHATLAS_WINDOW", "--units (HASHATLAS_UNITS"}},
		{[]string{"report", "-h"}, []string{"Usage: hashatlas report KIND [flags]"}},
		{[]string{"report", "countries", "--help"}, []string{"Usage: hashatlas report KIND [flags]"}},
		{[]string{"report", "--format", "csv", "--help"}, []string{"Usage: hashatlas report KIND [flags]"}},
		{[]string{"sql", "--help"}, []string{"hashatlas sql: run one SQL statement", `Usage: hashatlas sql "QUERY" [flags]`, "--sql.readonly (HASHATLAS_SQL_READONLY"}},
		{[]string{"sql", "--format=csv", "-help"}, []string{`Usage: hashatlas sql "QUERY" [flags]`}},
		{[]string{"collect", "--help"}, []string{"hashatlas collect: collect from one source", "Usage: hashatlas collect SOURCE [flags]",
			"SOURCE is one of bitcoind, braiins, eia, esplora, file, grid-csv, mempool-pools", "--once (HASHATLAS_ONCE", "--kafka.brokers (HASHATLAS_KAFKA_BROKERS"}},
		{[]string{"collect", "file", "--help"}, []string{"--blocks (HASHATLAS_BLOCKS"}},
	} {
		code, stdout, stderr := runCmd(t, nil, tc.args...)
		if code != exitOK || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q; want the help and exit 0", tc.args, code, stderr)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, stdout)
			}
		}
	}

	// Without the argument, and without --help: one line saying what is missing.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--format=csv"}, "hashatlas report: report needs a kind: network, pools"},
		{[]string{"sql", "--format", "csv"}, "hashatlas sql: sql needs a query"},
		{[]string{"collect", "--once"}, "hashatlas collect: collect needs a source first: hashatlas collect SOURCE [flags]"},
		{[]string{"sql", "SELECT 1", "SELECT 2"}, `sql takes one query, in quotes; "SELECT 2" is a second argument`},
	} {
		code, _, stderr := runCmd(t, nil, tc.args...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}

	// Flags before the query or the kind, with separate values, and a query that starts with a
	// comment.
	db := fmt.Sprintf("hashatlas_flags_%d", rand.Uint64()%1_000_000_000)
	dropDatabaseAtEnd(t, db)
	ch := []string{"--clickhouse.addr", testClickHouseAddr(), "--clickhouse.database", db}
	if code, _, stderr := runCmd(t, nil, append([]string{"migrate"}, ch...)...); code != exitOK {
		t.Fatal(stderr)
	}
	for _, args := range [][]string{
		append(append([]string{"sql", "--format", "csv"}, ch...), "SELECT 1 AS x"),
		append(append([]string{"sql"}, ch...), "--format=csv", "-- the answer\nSELECT 1 AS x"),
		append([]string{"sql", "SELECT 1 AS x", "--format", "csv"}, ch...),
	} {
		code, stdout, stderr := runCmd(t, nil, args...)
		if code != exitOK || stdout != "x\n1\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	code, stdout, stderr := runCmd(t, nil, append(append([]string{"report", "--window", "week", "--format", "csv", "--units", "raw"}, ch...), "network")...)
	if code != exitOK || !strings.HasPrefix(stdout, "window_start,entity,blocks") || !strings.Contains(stderr, "note: no rows") {
		t.Errorf("report with flags before the kind: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestErrorsNameTheFlagsNotGoFields (issue 16, item 7): a collector's invalid settings are one
// line naming the flags to set, never the Go fields behind them.
func TestErrorsNameTheFlagsNotGoFields(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"collect", "bitcoind", "--once", "--check-config"},
			"hashatlas collect: invalid --bitcoind.* settings (env HASHATLAS_BITCOIND_*): set --bitcoind.cookie-file (preferred) or --bitcoind.user with --bitcoind.password or --bitcoind.password-file\n"},
		{[]string{"collect", "bitcoind", "--once", "--bitcoind.user=me", "--check-config"},
			"hashatlas collect: invalid --bitcoind.* settings (env HASHATLAS_BITCOIND_*): --bitcoind.user needs --bitcoind.password or --bitcoind.password-file\n"},
		{[]string{"collect", "bitcoind", "--once", "--bitcoind.user=me", "--bitcoind.cookie-file=/c", "--check-config"},
			"hashatlas collect: invalid --bitcoind.* settings (env HASHATLAS_BITCOIND_*): set either --bitcoind.cookie-file or --bitcoind.user, not both\n"},
		{[]string{"collect", "grid-csv", "--once", "--check-config"},
			"hashatlas collect: invalid --gridcsv.* settings (env HASHATLAS_GRIDCSV_*): --gridcsv.file is empty: set it to the CSV's path or http(s) URL\n"},
	} {
		code, _, stderr := runCmd(t, nil, tc.args...)
		if code != exitUsage || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestCollectOnTheEmbeddedBrokerWarnsThatItVanishes (issue 16, item 7): `collect
// --kafka.embedded` publishes into a broker that ends with the command, and says so first.
func TestCollectOnTheEmbeddedBrokerWarnsThatItVanishes(t *testing.T) {
	blocks := firstBlocks(t, 20)
	code, _, stderr := runCmd(t, nil, "collect", "file", "--once", "--kafka.embedded", "--kafka.embedded-port=0", "--log.level=warn",
		"--blocks="+blocks, "--difficulty="+filepath.Join(sharedData(t), "difficulty_epochs.csv"))
	if code != exitOK || stderr != embeddedBrokerWarning+"\n" || !strings.Contains(stderr, "gone when it exits") {
		t.Fatalf("exit %d, stderr %q; want exit 0 and the warning", code, stderr)
	}
}

// TestTopLevelHelpIsAlignedAndListsEveryReport (issue 16, item 8): every command's summary
// starts in the same column (reattribute, the longest name, included), and report's line names
// every report kind and the charts.
func TestTopLevelHelpIsAlignedAndListsEveryReport(t *testing.T) {
	var out bytes.Buffer
	printUsage(&out)
	col := -1
	inCommands := false
	for _, l := range strings.Split(out.String(), "\n") {
		switch {
		case l == "Commands:":
			inCommands = true
			continue
		case l == "":
			inCommands = false
		}
		if !inCommands {
			continue
		}
		name := strings.Fields(l)[0]
		at := strings.Index(l[len("  ")+len(name):], strings.Fields(l)[1]) + len("  ") + len(name)
		if col < 0 {
			col = at
		}
		if at != col || at < len("  ")+len(name)+2 {
			t.Errorf("the summary of %s starts in column %d, the others in %d:\n%s", name, at, col, out.String())
		}
		if name == "report" {
			for _, k := range append(append([]string{}, reportKinds...), "PNG", "SVG") {
				if !strings.Contains(l, k) {
					t.Errorf("report's line does not mention %s: %q", k, l)
				}
			}
		}
	}
	if col < 0 {
		t.Fatalf("no commands listed:\n%s", out.String())
	}
}
