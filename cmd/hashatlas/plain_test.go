//go:build !chdb

package main

import (
	"strings"
	"testing"
)

// TestPlainBuildSaysHowToGetTheEmbeddedEngine runs in the build without the chdb tag (the
// container image's): asking for the embedded engine fails with one line saying how to get it.
func TestPlainBuildSaysHowToGetTheEmbeddedEngine(t *testing.T) {
	code, _, stderr := runCmd(t, nil, "migrate", "--clickhouse.embedded-dir="+t.TempDir())
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "-tags chdb") {
		t.Fatalf("stderr %q: want one line naming -tags chdb", stderr)
	}
	code, stdout, _ := runCmd(t, nil, "version")
	if code != exitOK || !strings.Contains(stdout, "embedded clickhouse: none") {
		t.Fatalf("version in the plain build: %q", stdout)
	}
}
