package image_test

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM ... and the instructions up to the next FROM.
type stage struct {
	from, name string
	ins        []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM, and the stages.
type dockerfile struct {
	globalArgs map[string]string
	stages     []stage
}

// parseDockerfile reads the subset of the Dockerfile syntax the image uses: comments, line
// continuations with a trailing backslash, and one instruction per logical line.
func parseDockerfile(text string) (dockerfile, error) {
	d := dockerfile{globalArgs: map[string]string{}}
	var logical []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue // comments are dropped, also inside a continued instruction
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		return d, fmt.Errorf("the last instruction ends in a line continuation: %q", cur.String())
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			d.stages = append(d.stages, st)
		case len(d.stages) == 0:
			if in.cmd != "ARG" {
				return d, fmt.Errorf("%s before the first FROM", in.cmd)
			}
			k, v, _ := strings.Cut(in.args, "=")
			d.globalArgs[k] = v
		default:
			d.stages[len(d.stages)-1].ins = append(d.stages[len(d.stages)-1].ins, in)
		}
	}
	return d, sc.Err()
}

// find returns the instructions of cmd in the stage.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// keyValues parses "K=V K2=V2" (ARG and ENV), with optional double quotes around values.
func keyValues(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDockerfile(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// goBuildRun returns the build stage and its RUN instruction that runs go build.
func goBuildRun(t *testing.T, d dockerfile) (stage, string) {
	t.Helper()
	for _, st := range d.stages {
		for _, in := range st.find("RUN") {
			if strings.Contains(in.args, "go build") {
				return st, in.args
			}
		}
	}
	t.Fatal("no stage runs go build")
	return stage{}, ""
}

// xFlags maps each -X target of an ldflags string to the variable its value is taken from,
// given the variable syntax of the file: $(NAME) in make, ${NAME} in a Dockerfile.
func xFlags(ldflags string, variable *regexp.Regexp) (map[string]string, []string) {
	x := map[string]string{}
	var other []string
	fields := strings.Fields(ldflags)
	for i := 0; i < len(fields); i++ {
		if fields[i] == "-X" && i+1 < len(fields) {
			target, value, _ := strings.Cut(fields[i+1], "=")
			if m := variable.FindStringSubmatch(value); m != nil {
				x[target] = m[1]
			} else {
				x[target] = "literal " + value
			}
			i++
			continue
		}
		other = append(other, fields[i])
	}
	return x, other
}

// makefileLDFLAGS returns the value of the Makefile's LDFLAGS.
func makefileLDFLAGS(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.+)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("the Makefile has no LDFLAGS line")
	}
	return strings.TrimSpace(m[1])
}

var ldflagsArg = regexp.MustCompile(`-ldflags\s+"([^"]*)"`)

// TestDockerfileIsAStaticNonRootMultiStageBuildOfThePlainBinary checks the Dockerfile's shape:
// a Go build stage on the Go version of go.mod, a final stage on an empty base that copies the
// binary the build stage wrote and runs it as a numeric non-root user; the build uses the
// Makefile's -ldflags (the same -X targets from the same build variables), CGO_ENABLED=0 and
// no build tags (so never chdb), with VERSION, COMMIT and DATE declared as build arguments.
func TestDockerfileIsAStaticNonRootMultiStageBuildOfThePlainBinary(t *testing.T) {
	d := readDockerfile(t)
	if len(d.stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(d.stages))
	}

	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go\s+(\S+)$`).FindSubmatch(gomod)
	if goLine == nil {
		t.Fatal("go.mod has no go directive")
	}
	if got := d.globalArgs["GO_VERSION"]; got != string(goLine[1]) {
		t.Errorf("ARG GO_VERSION=%s, want go.mod's %s", got, goLine[1])
	}

	build, run := goBuildRun(t, d)
	if build.from != "golang:${GO_VERSION}" || build.name == "" {
		t.Errorf("the build stage is FROM %s AS %q, want a named stage FROM golang:${GO_VERSION}", build.from, build.name)
	}
	env := map[string]string{}
	args := map[string]bool{}
	for _, in := range build.ins {
		switch in.cmd {
		case "ENV":
			for k, v := range keyValues(in.args) {
				env[k] = v
			}
		case "ARG":
			for k := range keyValues(in.args) {
				args[k] = true
			}
		}
	}
	if env["CGO_ENABLED"] != "0" && !strings.Contains(run, "CGO_ENABLED=0") {
		t.Errorf("the build stage does not set CGO_ENABLED=0 (ENV %v)", env)
	}
	if strings.Contains(run, "-tags") || strings.Contains(run, "chdb") {
		t.Errorf("the build passes build tags (%q); the image is the plain build, without chdb", run)
	}

	m := ldflagsArg.FindStringSubmatch(run)
	if m == nil {
		t.Fatalf("the go build %q has no -ldflags \"...\"", run)
	}
	dockerX, dockerOther := xFlags(m[1], regexp.MustCompile(`^\$\{(\w+)\}$`))
	makeX, makeOther := xFlags(makefileLDFLAGS(t), regexp.MustCompile(`^\$\((\w+)\)$`))
	if fmt.Sprint(dockerX) != fmt.Sprint(makeX) {
		t.Errorf("-X stamps differ: Dockerfile %v, Makefile %v", dockerX, makeX)
	}
	if strings.Join(dockerOther, " ") != strings.Join(makeOther, " ") {
		t.Errorf("other linker flags differ: Dockerfile %q, Makefile %q", dockerOther, makeOther)
	}
	for target, variable := range dockerX {
		if !args[variable] {
			t.Errorf("-X %s takes ${%s}, which the build stage does not declare with ARG", target, variable)
		}
	}
	for _, want := range []string{"VERSION", "COMMIT", "DATE"} {
		if !args[want] {
			t.Errorf("the build stage has no ARG %s", want)
		}
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(run)
	if out == nil {
		t.Fatalf("the go build %q names no output (-o)", run)
	}

	final := d.stages[len(d.stages)-1]
	if final.from != "scratch" {
		t.Errorf("the runtime stage is FROM %s, want scratch (a static binary needs no base)", final.from)
	}
	users := final.find("USER")
	if len(users) != 1 {
		t.Fatalf("the runtime stage has %d USER instructions, want 1", len(users))
	}
	um := regexp.MustCompile(`^(\d+):(\d+)$`).FindStringSubmatch(users[0].args)
	if um == nil {
		t.Fatalf("USER %s: want a numeric uid:gid, so that runAsNonRoot can be verified without /etc/passwd", users[0].args)
	}
	if uid, _ := strconv.Atoi(um[1]); uid == 0 {
		t.Errorf("USER %s runs as root", users[0].args)
	}
	eps := final.find("ENTRYPOINT")
	if len(eps) != 1 {
		t.Fatalf("the runtime stage has %d ENTRYPOINT instructions, want 1", len(eps))
	}
	var entry []string
	if err := json.Unmarshal([]byte(eps[0].args), &entry); err != nil || len(entry) != 1 {
		t.Fatalf("ENTRYPOINT %s: want the exec form naming only the binary, so that the manifests' args follow it", eps[0].args)
	}
	copied := false
	for _, in := range final.find("COPY") {
		f := strings.Fields(in.args)
		if len(f) == 3 && f[0] == "--from="+build.name && f[1] == out[1] && f[2] == entry[0] {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the runtime stage does not COPY --from=%s %s %s (the built binary to the ENTRYPOINT)", build.name, out[1], entry[0])
	}
	for _, in := range final.find("ENV") {
		if zi, ok := keyValues(in.args)["ZONEINFO"]; ok {
			found := false
			for _, c := range final.find("COPY") {
				if f := strings.Fields(c.args); len(f) == 3 && f[2] == zi {
					found = true
				}
			}
			if !found {
				t.Errorf("ZONEINFO=%s is not copied into the runtime stage", zi)
			}
		}
	}
}

// TestDockerfileBuildStepStampsTheVersionAndLinksStatically runs the Dockerfile's go build step
// itself (no container engine here) with test build arguments, its output redirected to a
// temporary directory, and checks that `hashatlas version` prints the stamps and that the
// binary is static (no ELF interpreter, no shared libraries).
func TestDockerfileBuildStepStampsTheVersionAndLinksStatically(t *testing.T) {
	d := readDockerfile(t)
	build, run := goBuildRun(t, d)
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(run)
	if out == nil {
		t.Fatalf("the go build %q names no output (-o)", run)
	}
	bin := filepath.Join(t.TempDir(), "hashatlas")
	cmdline := strings.Replace(run, out[0], "-o "+bin, 1)

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run the Dockerfile's build step: %v", err)
	}
	stamps := map[string]string{"VERSION": "v0.0.0-imagetest", "COMMIT": "0123456789abcdef", "DATE": "2026-01-02T03:04:05Z"}
	env := append(os.Environ(), "PATH="+filepath.Dir(goBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, in := range build.find("ENV") {
		for k, v := range keyValues(in.args) {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range stamps {
		env = append(env, k+"="+v)
	}
	sh := exec.Command("sh", "-c", cmdline)
	sh.Dir = repoRoot
	sh.Env = env
	if b, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build step %q failed: %v\n%s", cmdline, err, b)
	}

	got, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("hashatlas version: %v\n%s", err, got)
	}
	want := fmt.Sprintf("hashatlas %s (commit %s, built %s,", stamps["VERSION"], stamps["COMMIT"], stamps["DATE"])
	if !strings.HasPrefix(string(got), want) || !strings.Contains(string(got), "embedded clickhouse: none") {
		t.Fatalf("hashatlas version printed %q, want it to start %q and name no embedded engine", got, want)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries %v (%v)", libs, err)
	}
}

// TestDockerignoreKeepsTheModuleInTheBuildContext: the ignore file beside the Dockerfile must
// not exclude go.mod, go.sum or any top-level package directory, which the build copies.
func TestDockerignoreKeepsTheModuleInTheBuildContext(t *testing.T) {
	b, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "bin" {
			needed = append(needed, e.Name())
		}
	}
	for _, line := range strings.Split(string(b), "\n") {
		pattern := strings.TrimSpace(line)
		if pattern == "" || strings.HasPrefix(pattern, "#") || strings.HasPrefix(pattern, "!") {
			continue
		}
		for _, n := range needed {
			if ok, _ := filepath.Match(pattern, n); ok {
				t.Errorf("pattern %q excludes %s from the build context", pattern, n)
			}
		}
	}
}
