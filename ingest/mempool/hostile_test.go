package mempool

// Leaky and hostile servers: credentials stay out of errors and logs, and a pass ends within
// its deadline and its memory bound. The cases are ingesttest's; what is mempool's is how a
// collector is built, and the checks of its two steps.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
	"github.com/hashatlas/hashatlas/ingest/pools"
)

// hostilePass builds a collector of a hostile server (ranking 24h and the weekly history) with
// the configuration's defaults but for the HTTP settings (Production: the default timeout and
// backoff, 30 s and up to a minute), its base URL given userinfo.
func hostilePass(userinfo string) ingesttest.NewPass {
	return func(to ingesttest.Target) (ingesttest.Pass, error) {
		cfg := DefaultConfig()
		cfg.BaseURL = ingesttest.WithUserinfo(to.URL+"/api", userinfo)
		cfg.HTTP = ingesttest.Either(to.Settings, fast, ingest.HTTPConfig{RequestsPerSecond: -1})
		client, err := NewClient(cfg, to.Transport, to.Log)
		if err != nil {
			return nil, err
		}
		topic := &memTopic{}
		return New(cfg, client, pools.Default(), topic, topic, to.Log, nil)
	}
}

var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, RequestsPerSecond: -1, MaxAttempts: 2}

// TestCredentialsInTheURLNeverReachErrorsOrLogs: a self-hosted instance behind a proxy, its base
// URL carrying a key as user (http://KEY@host) or a user and password; a server echoing the
// request back (retried 500s, logged each time, and a 401) must not get them into an error or a
// log line, in any form.
func TestCredentialsInTheURLNeverReachErrorsOrLogs(t *testing.T) {
	var creds []ingesttest.Credential
	for _, cred := range []struct{ userinfo, secret string }{
		{"mk-0a1b2c3d4e5f6789", "mk-0a1b2c3d4e5f6789:"},
		{"poolwatch:pw-m3mp00l-s3cret", "pw-m3mp00l-s3cret"},
	} {
		user, _, _ := strings.Cut(cred.userinfo, ":")
		creds = append(creds, ingesttest.Credential{Name: cred.userinfo, New: hostilePass(cred.userinfo),
			Secrets: []string{cred.secret, cred.userinfo}, ErrorSecrets: []string{user}})
	}
	ingesttest.EchoedCredentials(t, creds...)
}

// TestAHostileSourceEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here), for both steps at once; a Retry-After of 28 hours ends the pass at once instead of
// sleeping, and the history step does not ask the instance again.
func TestAHostileSourceEndsThePassWithinItsDeadline(t *testing.T) {
	ingesttest.PassDeadlines(t, hostilePass(""), ingest.NewRunner, func(t *testing.T, err error) {
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("err %q is not one line", err)
		}
		if err != nil && strings.Contains(err.Error(), "hashrate history") {
			t.Errorf("err %q: the history step asked the instance again", err)
		}
	})
}

// TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound: with the default bound, a
// never-ending answer is refused after DefaultMaxBodyBytes (and the byte that tells) of each
// of the pass's two requests; one that declares its 1 GiB is refused unread.
func TestAnEndlessAnswerIsRefusedAfterReadingAtMostTheBound(t *testing.T) {
	var cases []ingesttest.EndlessCase
	for _, declare := range []bool{false, true} {
		c := ingesttest.BodyOver(DefaultMaxBodyBytes, 2, declare)
		c.Name = fmt.Sprintf("Content-Length declared %v", declare)
		cases = append(cases, c)
	}
	ingesttest.EndlessAnswers(t, hostilePass(""), cases...)
}
