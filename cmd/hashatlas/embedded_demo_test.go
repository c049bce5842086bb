//go:build chdb

package main

// Tests that read the demo's embedded ClickHouse: they exist only in the build with the
// embedded engine (make test runs it), rather than skipping themselves in the plain one.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCommandsRunAsWritten runs the README's marked shell blocks, in order, as a
// newcomer would after cloning: in a fresh directory holding bin/hashatlas (this test binary as
// the hashatlas entry point), `make demo` first — the Makefile's recipe, on the real history in
// HASHATLAS_DATA_DIR — then the commands that read the demo's database, with no ClickHouse
// flag or variable set. Each block must exit 0 and print what the README shows; a README number
// that drifts from what the code produces fails the test.
func TestReadmeCommandsRunAsWritten(t *testing.T) {
	data, err := filepath.Abs(sharedData(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeDocTests(string(b))
	if err != nil {
		t.Fatal(err)
	}
	checkReadmeCoverage(t, blocks)
	demoCmd := makeDemoRecipe(t)

	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tools := filepath.Join(dir, ".tools")
	for name, script := range map[string]string{
		filepath.Join(dir, "bin", "hashatlas"): fmt.Sprintf("#!/bin/sh\n%s=1 exec %q \"$@\"\n", mainEnv, self),
		// make builds bin/hashatlas and runs the demo's recipe; here the binary is built.
		filepath.Join(tools, "make"): fmt.Sprintf("#!/bin/sh\n[ \"$*\" = demo ] || { echo \"the README doc test runs only 'make demo', not 'make $*'\" >&2; exit 2; }\nexec %s\n", demoCmd),
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The environment of a newcomer's shell: no ClickHouse or Kafka settings; the data where
	// the Makefile points (it exports HASHATLAS_DATA_DIR).
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HASHATLAS_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HASHATLAS_DATA_DIR="+data, "PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"))

	for i, blk := range blocks {
		cmd := exec.Command("sh", "-ec", blk.script)
		cmd.Dir, cmd.Env = dir, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("README line %d:\n%s\nfailed (%v):\n%s", blk.line, blk.script, err, stderr.String())
		}
		if i == 0 {
			if _, err := os.Stat(filepath.Join(dir, demoDatabaseDir)); err != nil {
				t.Fatalf("README line %d: the first doc-test block must leave the demo's database (%s): %v", blk.line, demoDatabaseDir, err)
			}
		}
		got := strings.Split(stdout.String(), "\n")
		if !outputMatches(blk.want, got) {
			t.Errorf("README line %d:\n%s\nprinted\n%s\nbut the README shows\n%s\n(stderr: %s)", blk.line, blk.script,
				stdout.String(), strings.Join(blk.want, "\n"), strings.TrimSpace(stderr.String()))
		}
	}
}

// TestSQLAndReportReadTheDemosDatabaseByDefaultAndNeverCreateAMisspelledOne (issue 16, items 1
// and 2): with no --clickhouse.addr or --clickhouse.embedded-dir, `sql` and `report` in a
// directory holding hashatlas-demo/clickhouse read that database and say so on stderr; a
// --clickhouse.embedded-dir that does not exist is not created, and the one line says there is
// no hashatlas database there and what to run (the parent directory gets a "did you mean").
func TestSQLAndReportReadTheDemosDatabaseByDefaultAndNeverCreateAMisspelledOne(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runMain(t, dir, "migrate", "--clickhouse.embedded-dir="+demoDatabaseDir, "--log.level=warn"); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	const reading = "reading database hashatlas in the demo's embedded ClickHouse at hashatlas-demo/clickhouse (--clickhouse.addr or --clickhouse.embedded-dir reads another)\n"
	code, stdout, stderr := runMain(t, dir, "sql", "--format=csv", "SELECT count() > 0 AS migrated FROM schema_migrations")
	if code != exitOK || stdout != "migrated\n1\n" || stderr != reading {
		t.Fatalf("sql without flags: exit %d, stdout %q, stderr %q; want the demo's database, said in one line", code, stdout, stderr)
	}
	code, stdout, stderr = runMain(t, dir, "report", "countries")
	if code != exitOK || !strings.HasPrefix(stderr, reading) || !strings.Contains(stderr, "note: no rows: report countries has no data at all yet") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("report without flags: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "countries", "--clickhouse.embedded-dir=hashatlas-dmo/clickhouse"},
			"hashatlas report: no hashatlas database in hashatlas-dmo/clickhouse (--clickhouse.embedded-dir): no such directory (did you mean hashatlas-demo/clickhouse?); run `hashatlas demo` or `hashatlas replay` first\n"},
		{[]string{"sql", "SELECT 1", "--clickhouse.embedded-dir=typo"},
			"hashatlas sql: no hashatlas database in typo (--clickhouse.embedded-dir): no such directory (did you mean hashatlas-demo/clickhouse?); run `hashatlas demo` or `hashatlas replay` first\n"},
		{[]string{"report", "network", "--clickhouse.embedded-dir=hashatlas-demo"},
			"hashatlas report: no hashatlas database in hashatlas-demo (--clickhouse.embedded-dir): it is not a ClickHouse data directory (did you mean hashatlas-demo/clickhouse?); run `hashatlas demo` or `hashatlas replay` first\n"},
	} {
		code, stdout, stderr := runMain(t, dir, tc.args...)
		if code != exitFailed || stdout != "" || stderr != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	for _, d := range []string{"hashatlas-dmo", "typo"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a misspelled --clickhouse.embedded-dir was created: %s (%v)", d, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "hashatlas-demo")); len(entries) != 1 {
		t.Errorf("the demo's output directory gained files: %v", entries)
	}
}

// checkReadmeCoverage fails when the README's checked blocks leave out what must be checked:
// the demo first, and the December 2025 country table.
func checkReadmeCoverage(t *testing.T, blocks []readmeBlock) {
	t.Helper()
	if len(blocks) == 0 || strings.TrimSpace(blocks[0].script) != "make demo" {
		t.Fatalf("the README's first %s block must be `make demo` (the others read its database)", docTestMarker)
	}
	dec := false
	for _, b := range blocks {
		if strings.Contains(b.script, "2025-12-01") && strings.Contains(b.script, "countr") && len(b.want) > 0 && strings.Contains(strings.Join(b.want, "\n"), " XX ") {
			dec = true
		}
	}
	if !dec {
		t.Fatalf("the README's December 2025 country table is not a %s block", docTestMarker)
	}
}

// makeDemoRecipe reads the Makefile's demo recipe with its variables' defaults filled in, and
// checks that it is what a newcomer's `make demo` runs after building bin/hashatlas.
func makeDemoRecipe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	vars := map[string]string{"DEMO_FLAGS": ""}
	for _, v := range []string{"BIN", "DEMO_OUT"} {
		m := regexp.MustCompile(`(?m)^` + v + `\s*\?=\s*(\S+)\s*$`).FindStringSubmatch(mk)
		if m == nil {
			t.Fatalf("the Makefile sets no default for %s", v)
		}
		vars[v] = m[1]
	}
	m := regexp.MustCompile(`(?m)^demo: build\n\t(.+)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no `demo: build` target with a one-line recipe")
	}
	recipe := regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllStringFunc(m[1], func(s string) string {
		return vars[s[2:len(s)-1]]
	})
	recipe = strings.TrimSpace(recipe)
	if vars["BIN"] != "bin/hashatlas" || vars["DEMO_OUT"]+"/clickhouse" != demoDatabaseDir || !strings.HasPrefix(recipe, "bin/hashatlas demo ") {
		t.Fatalf("make demo runs %q (BIN %s, DEMO_OUT %s): the README expects bin/hashatlas and %s", recipe, vars["BIN"], vars["DEMO_OUT"], demoDatabaseDir)
	}
	return recipe
}

// runMain runs the hashatlas entry point in a process of its own (the embedded engine allows one
// data directory per process), in dir, without any HASHATLAS_ setting from the environment.
func runMain(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HASHATLAS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, mainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}
