package braiins

// Leaky and hostile servers: the token stays out of errors and logs, and a pass ends within its
// deadline and its memory bound. The cases are ingesttest's; what is braiins's is how a collector
// is built.

import (
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

// hostileCollector builds a collector of a hostile server with the configuration's defaults but
// for the HTTP settings (Production: the default timeout and backoff, 30 s and up to a minute).
func hostileCollector(to ingesttest.Target) (ingesttest.Pass, error) {
	cfg := Config{BaseURL: to.URL, Token: testToken, HTTP: ingesttest.Either(to.Settings, fast, ingest.HTTPConfig{RequestsPerSecond: -1})}
	client, err := NewClient(cfg, to.Transport, to.Log)
	if err != nil {
		return nil, err
	}
	topic := &memTopic{}
	return New(cfg, client, topic, topic, to.Log, nil)
}

var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestsPerSecond: -1, MaxAttempts: 2}

// TestTheTokenNeverReachesErrorsOrLogsWhenEchoed: a server that echoes the request back, the
// Pool-Auth-Token header included (retried 500s, logged each time, and a 401), must not
// get the token into an error or a log line, in any form.
func TestTheTokenNeverReachesErrorsOrLogsWhenEchoed(t *testing.T) {
	ingesttest.EchoedCredentials(t, ingesttest.Credential{New: hostileCollector, Secrets: []string{testToken}})
}

// TestAHostileSourceEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here); a Retry-After of 28 hours ends the pass at once instead of sleeping.
func TestAHostileSourceEndsThePassWithinItsDeadline(t *testing.T) {
	ingesttest.PassDeadlines(t, hostileCollector, ingest.NewRunner)
}

// TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound: with the default bound, a
// never-ending answer is refused after DefaultMaxBodyBytes and the byte that tells.
func TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound(t *testing.T) {
	ingesttest.EndlessAnswers(t, hostileCollector, ingesttest.BodyOver(DefaultMaxBodyBytes, 1, false))
}
