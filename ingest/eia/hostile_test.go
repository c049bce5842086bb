package eia

// Leaky and hostile servers: the key stays out of errors and logs, and a pass ends within its
// deadline and its memory bound. The cases are ingesttest's; what is EIA's is how a collector is
// built.

import (
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/grid"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

// hostileCollector builds a collector of a hostile server (one respondent, two types, three
// days) with the configuration's defaults but for the HTTP settings (Production: the default
// timeout and backoff, 60 s and up to a minute).
func hostileCollector(to ingesttest.Target) (ingesttest.Pass, error) {
	cfg := Config{BaseURL: to.URL, APIKey: testKey, Respondents: []string{"ERCO"}, Types: []string{"D", "NG"},
		FuelTypes: []string{}, From: day0, To: day3, HTTP: ingesttest.Either(to.Settings, fast, ingest.HTTPConfig{RequestsPerSecond: -1})}
	client, err := NewClient(cfg, to.Transport, to.Log)
	if err != nil {
		return nil, err
	}
	return NewCollector(cfg, client, grid.DefaultRegions(), &memTopic{}, &memTopic{}, to.Log)
}

var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestsPerSecond: -1, MaxAttempts: 2}

// TestTheKeyNeverReachesErrorsOrLogsWhenTheRequestIsEchoed: a server that echoes the whole
// request back (its URL, with the api_key parameter, and its headers), in a retried 500 (each
// failure logged) or a 401, must not get the key into an error or a log line, in any form.
func TestTheKeyNeverReachesErrorsOrLogsWhenTheRequestIsEchoed(t *testing.T) {
	ingesttest.EchoedCredentials(t, ingesttest.Credential{New: hostileCollector, Secrets: []string{testKey}})
}

// TestAHostileSourceEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here); a Retry-After of 28 hours ends the pass at once instead of sleeping.
func TestAHostileSourceEndsThePassWithinItsDeadline(t *testing.T) {
	ingesttest.PassDeadlines(t, hostileCollector, ingest.NewRunner)
}

// TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound: with the default bound, a
// never-ending page is refused after DefaultMaxBodyBytes and the byte that tells.
func TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound(t *testing.T) {
	ingesttest.EndlessAnswers(t, hostileCollector, ingesttest.BodyOver(DefaultMaxBodyBytes, 1, false))
}
