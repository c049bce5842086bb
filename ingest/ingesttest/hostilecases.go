package ingesttest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
)

// The cases every source's client is put through by its hostile tests, table-driven: each
// client's test says only how to build the client and what a pass of it is.
//
// ingesttest does not import ingest (the ingest package's own tests import ingesttest), so a
// pass is a Pass rather than an ingest.Collector, the HTTP settings a Settings rather than an
// ingest.HTTPConfig, and ingest.NewRunner is given to PassDeadlines as a PassRunner.

// Pass is one pass of a client against a server: an ingest.Collector.
type Pass interface {
	Name() string
	Collect(ctx context.Context) error
}

// Settings are the HTTP settings a hostile test wants its client built with.
type Settings int

const (
	// Fast: quick retries (milliseconds apart), two attempts, no rate limit.
	Fast Settings = iota
	// Production: the configuration's default timeout and backoff (up to a minute), as in
	// production; no rate limit where the client has one.
	Production
)

// Either is fast with the Fast settings and production with the Production ones: a client's
// HTTP configuration for s.
func Either[T any](s Settings, fast, production T) T {
	if s == Production {
		return production
	}
	return fast
}

// Target is what a NewPass builds a client with.
type Target struct {
	URL       string             // the hostile server's: http://host:port
	Transport http.RoundTripper  // for the client's requests: it counts the body bytes read
	Log       logrus.FieldLogger // the client's logger; nil: no logging
	Settings  Settings           // the HTTP settings wanted
}

// NewPass builds a client of to.URL as to says, and returns a pass of it.
type NewPass func(to Target) (Pass, error)

// PassFunc is a pass of the source named name that runs collect: a client's calls made into a
// collector's pass.
func PassFunc(name string, collect func(ctx context.Context) error) Pass {
	return passFunc{name, collect}
}

type passFunc struct {
	name    string
	collect func(ctx context.Context) error
}

func (p passFunc) Name() string                      { return p.name }
func (p passFunc) Collect(ctx context.Context) error { return p.collect(ctx) }

// build serves h until the test ends and builds a pass of a client of it with newPass, logging
// into logs (nowhere when nil); it returns the pass and the transport that counts the body
// bytes the client reads.
func build(t *testing.T, newPass NewPass, h http.Handler, logs *Logs, s Settings) (Pass, *CountingTransport) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	rt := &CountingTransport{}
	to := Target{URL: srv.URL, Transport: rt, Settings: s}
	if logs != nil {
		to.Log = logs
	}
	p, err := newPass(to)
	if err != nil {
		t.Fatal(err)
	}
	return p, rt
}

// PassRunner is ingest.NewRunner (ingesttest does not import ingest: the ingest package's own
// tests import ingesttest), for PassDeadlines.
type PassRunner[R interface {
	RunOnce(ctx context.Context, c C) error
}, C any] func(log logrus.FieldLogger, reg prometheus.Registerer, passTimeout time.Duration) (R, error)

// WithUserinfo is url (http://…) with userinfo (user or user:password) before its host; url
// itself when userinfo is "".
func WithUserinfo(url, userinfo string) string {
	if userinfo == "" {
		return url
	}
	return strings.Replace(url, "http://", "http://"+userinfo+"@", 1)
}

// Credential is a way a client carries a credential, for EchoedCredentials.
type Credential struct {
	// Name is the first element of the subtests' names; "" where the client has one way.
	Name string
	// New builds a client carrying the credential.
	New NewPass
	// Secrets must reach neither the pass's error nor the logs, in any of their SecretForms.
	Secrets []string
	// ErrorSecrets must besides stay out of the error (the logs may show them).
	ErrorSecrets []string
}

// EchoedCredentials: for each credential, a server echoing the request back (Echo, in each of
// the EchoFormats) in a 500, retried and each failure logged, or in a 401, must fail the pass
// without getting the secrets into its error or the logs. The subtests are named
// [Name/]status/format.
func EchoedCredentials(t *testing.T, creds ...Credential) {
	for _, cred := range creds {
		for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
			for _, format := range EchoFormats {
				name := fmt.Sprintf("%d/%s", status, format)
				if cred.Name != "" {
					name = cred.Name + "/" + name
				}
				t.Run(name, func(t *testing.T) {
					logs := NewLogs()
					p, _ := build(t, cred.New, Echo(status, format), logs, Fast)
					err := p.Collect(context.Background())
					if err == nil {
						t.Fatal("no error")
					}
					if status == http.StatusInternalServerError && !strings.Contains(logs.String(), "retrying") {
						t.Fatalf("the retry was not logged:\n%s", logs)
					}
					NoSecret(t, "the error", err.Error(), slices.Concat(cred.Secrets, cred.ErrorSecrets)...)
					NoSecret(t, "the logs", logs.String(), cred.Secrets...)
				})
			}
		}
	}
}

// PassDeadlines: with the Production settings, a pass of a client run with a pass deadline
// ends within it: a slow-loris is cut by the deadline (1 s here), and a 429 with a Retry-After
// of 28 hours ends the pass at once instead of sleeping; its error says so and names the
// setting. also are the client's own checks of that error (nil when the pass ended without
// one). The subtests are named "slow-loris" and "429 with Retry-After: 100000".
func PassDeadlines[R interface {
	RunOnce(ctx context.Context, c C) error
}, C any](t *testing.T, newPass NewPass, newRunner PassRunner[R, C], also ...func(t *testing.T, err error)) {
	for _, tc := range []struct {
		name     string
		h        http.Handler
		deadline time.Duration
		within   time.Duration
		want     string
	}{
		{"slow-loris", SlowLoris(50 * time.Millisecond), time.Second, 2 * time.Second, "pass deadline of 1s reached (--pass-timeout"},
		{"429 with Retry-After: 100000", TooManyRequests(100000), 3 * time.Second, time.Second, "27h46m40s (Retry-After), past the pass deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := build(t, newPass, tc.h, nil, Production)
			r, _ := newRunner(nil, nil, tc.deadline)
			start := time.Now()
			err := r.RunOnce(context.Background(), p.(C))
			if took := time.Since(start); took > tc.within {
				t.Errorf("the pass took %v, want at most %v", took, tc.within)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "HASHATLAS_PASS_TIMEOUT") {
				t.Errorf("err = %v, want one saying %q and naming the setting", err, tc.want)
			}
			for _, check := range also {
				check(t, err)
			}
		})
	}
}

// EndlessCase is an answer that never ends, and what a client must make of it.
type EndlessCase struct {
	Name   string       // the subtest's name; "" for a test's only case, run in the test itself
	H      http.Handler // the server: an EndlessBody
	Want   string       // what the pass's error says
	AtMost int64        // how many body bytes the client may read
}

// EndlessAnswers: with the Fast settings, a pass of a client of each case's server fails saying
// Want, having read at most AtMost bytes of the answers.
func EndlessAnswers(t *testing.T, newPass NewPass, cases ...EndlessCase) {
	for _, tc := range cases {
		check := func(t *testing.T) {
			p, rt := build(t, newPass, tc.H, nil, Fast)
			err := p.Collect(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.Want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.Want)
			}
			if n := rt.BodyBytes(); n > tc.AtMost {
				t.Errorf("read %d bytes of the answers, want at most %d", n, tc.AtMost)
			}
		}
		if tc.Name == "" {
			check(t)
		} else {
			t.Run(tc.Name, check)
		}
	}
}

// BodyOver is the case of a 200 that never ends to a client that holds at most bound bytes of
// an answer: the pass fails saying "body larger than bound bytes", having read at most the bound
// and the byte that tells of each of its requests; none at all where the answer declares its
// Content-Length (1 GiB).
func BodyOver(bound int64, requests int, declared bool) EndlessCase {
	c := EndlessCase{H: EndlessBody(http.StatusOK, declared), Want: fmt.Sprintf("body larger than %d bytes", bound),
		AtMost: int64(requests) * (bound + 1)}
	if declared {
		c.AtMost = 0
	}
	return c
}
