package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/hashatlas/hashatlas/sinks/clickhouse"
)

// Build stamps, set at link time by the Makefile and the container build:
//
//	-ldflags "-X main.version=v0.1.0 -X main.commit=abc1234 -X main.date=2026-11-25T14:00:00Z"
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// buildCommit is the link-time commit, else the VCS revision Go recorded, else "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func setupVersion(c *cli) (runFunc, error) {
	return func(context.Context) error {
		d := date
		if d == "" {
			d = "unknown"
		}
		_, err := fmt.Fprintf(c.stdout, "hashatlas %s (commit %s, built %s, %s %s/%s, embedded clickhouse: %s)\n",
			version, buildCommit(), d, runtime.Version(), runtime.GOOS, runtime.GOARCH, clickhouse.EmbeddedEngine())
		return err
	}, nil
}
