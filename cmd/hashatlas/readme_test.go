package main

import (
	"fmt"
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
