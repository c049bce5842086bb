package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// configReference renders every command's flags, environment variables and defaults as
// Markdown: the configuration reference in CONFIG.md beside this file (a test keeps the two
// equal). Flags shared by every command are listed once; `collect` is listed per source.
func configReference() string {
	var b strings.Builder
	common := map[string]bool{}
	base := newCLI("x", io.Discard, io.Discard)
	base.fs.VisitAll(func(f *flag.Flag) { common[f.Name] = true })
	b.WriteString("Every flag can be set by its environment variable instead: `--kafka.brokers` is `HASHATLAS_KAFKA_BROKERS` (upper case, `.` and `-` as `_`); a flag on the command line wins.\n\n")
	b.WriteString("#### every command\n\n")
	writeFlags(&b, base.fs, func(string) bool { return true })
	for _, cmd := range commands() {
		variants := [][]string{nil}
		title := cmd.name
		switch cmd.name {
		case "collect":
			variants = nil
			for _, s := range collectSources {
				variants = append(variants, []string{s})
			}
		case "report":
			variants, title = [][]string{{"network"}}, "report KIND"
		case "sql":
			variants, title = [][]string{{"SELECT 1"}}, `sql "QUERY"`
		}
		for _, args := range variants {
			c := newCLI(cmd.name, io.Discard, io.Discard)
			var err error
			if cmd.setupArgs != nil {
				_, _, err = cmd.setupArgs(c, args)
			} else {
				_, err = cmd.setup(c)
			}
			if err != nil {
				panic(fmt.Sprintf("config reference of %s %v: %v", cmd.name, args, err))
			}
			name := title
			if cmd.name == "collect" {
				name = "collect " + args[0]
			}
			fmt.Fprintf(&b, "#### %s\n\n%s\n\n", name, cmd.summary)
			writeFlags(&b, c.fs, func(n string) bool { return !common[n] })
		}
	}
	return b.String()
}

func writeFlags(b *strings.Builder, fs *flag.FlagSet, keep func(string) bool) {
	var rows []string
	fs.VisitAll(func(f *flag.Flag) {
		if !keep(f.Name) {
			return
		}
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		usage := strings.ReplaceAll(f.Usage, "|", `\|`)
		rows = append(rows, fmt.Sprintf("| `--%s` | `%s` | `%s` | %s |", f.Name, envName(f.Name), strings.ReplaceAll(def, "|", `\|`), usage))
	})
	sort.Strings(rows)
	if len(rows) == 0 {
		b.WriteString("(no flags of its own)\n\n")
		return
	}
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	b.WriteString("\n")
}
