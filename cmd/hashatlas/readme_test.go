package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docTestMarker marks a README shell block that TestReadmeCommandsRunAsWritten runs; the
// fenced block right after it (blank lines between allowed) is what its stdout must be, and a
// marked block with no output block after it must print nothing.
const docTestMarker = "<!-- doc-test -->"

// mainEnv makes the test binary the hashatlas entry point (TestMain), for the README's
// bin/hashatlas.
const mainEnv = "HASHATLAS_TEST_AS_MAIN"

// readmeBlock is one marked block: its line in the README, its shell text, and the stdout it
// must print.
type readmeBlock struct {
	line   int
	script string
	want   []string
}

// readmeDocTests returns the README's marked blocks, in order.
func readmeDocTests(readme string) ([]readmeBlock, error) {
	lines := strings.Split(readme, "\n")
	var out []readmeBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != docTestMarker {
			continue
		}
		b := readmeBlock{line: i + 1}
		i++
		if i >= len(lines) || strings.TrimSpace(lines[i]) != "```sh" {
			return nil, fmt.Errorf("README line %d: %s must be followed by a ```sh block", b.line, docTestMarker)
		}
		var script []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			script = append(script, lines[i])
		}
		if i >= len(lines) {
			return nil, fmt.Errorf("README line %d: the shell block never ends", b.line)
		}
		b.script = strings.Join(script, "\n") + "\n"
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j < len(lines) && (lines[j] == "```" || lines[j] == "```text") {
			for j++; j < len(lines) && lines[j] != "```"; j++ {
				b.want = append(b.want, lines[j])
			}
			if j >= len(lines) {
				return nil, fmt.Errorf("README line %d: the output block never ends", b.line)
			}
			i = j
		}
		out = append(out, b)
	}
	return out, nil
}

// outputMatches reports whether got (lines, trailing blanks and spaces ignored) is what want
// shows: a line "..." stands for any number of lines, and "…" within a line for any text
// (what depends on the day the test runs, such as how long ago the data end).
func outputMatches(want, got []string) bool {
	trim := func(ls []string) []string {
		out := make([]string, 0, len(ls))
		for _, l := range ls {
			out = append(out, strings.TrimRight(l, " \t"))
		}
		for len(out) > 0 && out[len(out)-1] == "" {
			out = out[:len(out)-1]
		}
		return out
	}
	want, got = trim(want), trim(got)
	memo := map[[2]int]bool{}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(want) {
			return j == len(got)
		}
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var ok bool
		if want[i] == "..." {
			for k := j; k <= len(got) && !ok; k++ {
				ok = match(i+1, k)
			}
		} else {
			ok = j < len(got) && lineMatches(want[i], got[j]) && match(i+1, j+1)
		}
		memo[key] = ok
		return ok
	}
	return match(0, 0)
}

func lineMatches(want, got string) bool {
	if !strings.Contains(want, "…") {
		return want == got
	}
	parts := strings.Split(want, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(got)
}

// TestReadmeCommandsRunAsWritten runs the README's marked shell blocks, in order, as a
// newcomer would after cloning: in a fresh directory holding bin/hashatlas (this test binary as
// the hashatlas entry point), `make demo` first — the Makefile's recipe, on the real history in
// HASHATLAS_DATA_DIR — then the commands that read the demo's database, with no ClickHouse
// flag or variable set. Each block must exit 0 and print what the README shows; a README number
// that drifts from what the code produces fails the test.
func TestReadmeCommandsRunAsWritten(t *testing.T) {
	if !haveEmbeddedEngine {
		t.Skip("the README's commands read the demo's embedded ClickHouse: build with -tags chdb")
	}
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

// TestReadmeOutputMatching pins the matching rules of the README doc test: exact lines, "..."
// for any lines, "…" for any text within a line; a changed number never matches.
func TestReadmeOutputMatching(t *testing.T) {
	got := []string{"head", "  XX  57.8  12.1", "  US  32.6   6.8", "at 2026-04-22, 7 months ago", "tail", ""}
	for _, tc := range []struct {
		want []string
		ok   bool
	}{
		{[]string{"head", "  XX  57.8  12.1", "  US  32.6   6.8", "at 2026-04-22, 7 months ago", "tail"}, true},
		{[]string{"...", "  US  32.6   6.8", "..."}, true},
		{[]string{"head", "...", "at 2026-04-22, … ago", "tail"}, true},
		{[]string{"...", "  XX  57.4  12.1", "..."}, false}, // a drifted number
		{[]string{"head", "  XX  57.8  12.1"}, false},       // output left out without "..."
		{[]string{"...", "at 2026-04-23, … ago", "..."}, false},
	} {
		if outputMatches(tc.want, got) != tc.ok {
			t.Errorf("outputMatches(%q) = %v, want %v", tc.want, !tc.ok, tc.ok)
		}
	}
	blocks, err := readmeDocTests("x\n" + docTestMarker + "\n```sh\necho a\n```\n\n```\na\n```\n" + docTestMarker + "\n```sh\ntrue\n```\ntext\n")
	if err != nil || len(blocks) != 2 || blocks[0].script != "echo a\n" || strings.Join(blocks[0].want, "|") != "a" || blocks[1].want != nil {
		t.Fatalf("parsed %+v, %v", blocks, err)
	}
}
