package estimate

import (
	"testing"
	"time"
)

func TestWindowOfIsUTCCalendarAligned(t *testing.T) {
	// 2026-01-01 is a Thursday; its ISO week starts Monday 2025-12-29.
	at := time.Date(2026, 1, 1, 23, 59, 59, 0, time.FixedZone("UTC+3", 3*3600)) // 20:59:59 UTC
	for _, tc := range []struct {
		kind       WindowKind
		start, end string
	}{
		{Day, "2026-01-01", "2026-01-02"},
		{Week, "2025-12-29", "2026-01-05"},
		{Month, "2026-01-01", "2026-02-01"},
	} {
		w := WindowOf(tc.kind, at)
		if w.Start.Format("2006-01-02") != tc.start || w.End.Format("2006-01-02") != tc.end || w.Start.Location() != time.UTC {
			t.Errorf("%s window of %v = [%v, %v), want [%s, %s)", tc.kind, at, w.Start, w.End, tc.start, tc.end)
		}
	}
	if s := WindowOf(Month, time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC)).Seconds(); s != 29*86400 {
		t.Errorf("February 2024 lasts %v s, want 29 days", s)
	}
	if w := WindowOf(Week, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)); w.Start.Day() != 23 {
		t.Errorf("a Monday starts its own week, got %v", w.Start)
	}
}
