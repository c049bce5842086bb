package bitcoind

// Leaky and hostile servers: the credentials stay out of errors and logs, and a pass ends within
// its deadline and its memory bound. The cases are ingesttest's; what is bitcoind's is how a
// client is built and what a pass of it is.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

// hostilePass builds a client of a hostile server with cfg's credentials and the configuration's
// defaults but for the HTTP settings; a pass of it reads the tip.
func hostilePass(cfg Config) ingesttest.NewPass {
	return func(to ingesttest.Target) (ingesttest.Pass, error) {
		// Production: the default timeout and backoff (30 s, up to a minute).
		cfg.URL, cfg.HTTP = to.URL, ingesttest.Either(to.Settings, fast, ingest.HTTPConfig{})
		c, err := New(cfg, to.Transport, to.Log)
		return ingesttest.PassFunc(SourceName, func(ctx context.Context) error {
			_, err := c.TipHeight(ctx)
			return err
		}), err
	}
}

var fast = ingest.HTTPConfig{BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxAttempts: 2}

// TestCredentialsNeverReachErrorsOrLogsWhenTheRequestIsEchoed: a server (a proxy in front of
// the node, say) that echoes the whole request back — Authorization: Basic with user:password
// or the cookie in base64 — in a retried 500 (each failure logged) or a 401, must not get the
// password, the cookie or their base64 into an error or a log line.
func TestCredentialsNeverReachErrorsOrLogsWhenTheRequestIsEchoed(t *testing.T) {
	cookieFile := filepath.Join(t.TempDir(), ".cookie")
	const cookieSecret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	writeCookie(t, cookieFile, cookieSecret)
	ingesttest.EchoedCredentials(t,
		ingesttest.Credential{Name: "user and password", New: hostilePass(Config{User: "alice", Password: "s3cret-rpc-pw"}),
			Secrets: []string{"s3cret-rpc-pw", "alice:s3cret-rpc-pw"}},
		ingesttest.Credential{Name: "cookie file", New: hostilePass(Config{CookieFile: cookieFile}),
			Secrets: []string{cookieSecret, "__cookie__:" + cookieSecret}},
	)
}

// TestAnRPCErrorEchoingThePasswordIsRedacted: the message of an RPC error is the server's; one
// that quotes the credentials is redacted too, where errors.As finds it included.
func TestAnRPCErrorEchoingThePasswordIsRedacted(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		return reply{status: http.StatusInternalServerError,
			body: []byte(`{"result":null,"error":{"code":-1,"message":"bad auth alice:s3cret"},"id":1}`), raw: true}, true
	}
	_, err := node.client(t).TipHeight(context.Background())
	ingesttest.NoSecret(t, "the error", fmt.Sprint(err), "s3cret", "alice:s3cret")
	var re *RPCError
	if !errors.As(err, &re) || strings.Contains(re.Error(), "s3cret") {
		t.Fatalf("the RPCError in %v shows the password or is missing", err)
	}
}

// TestAHostileNodeEndsThePassWithinItsDeadline: a slow-loris is cut by the pass deadline (1 s
// here); a Retry-After of 28 hours ends the pass at once instead of sleeping.
func TestAHostileNodeEndsThePassWithinItsDeadline(t *testing.T) {
	ingesttest.PassDeadlines(t, hostilePass(Config{User: "alice", Password: "s3cret"}), ingest.NewRunner)
}

// TestAnEndlessAnswerIsBounded: the answer to a call other than getblock is refused after
// smallAnswerBytes (at once when its Content-Length says it is longer); an error answer that
// never ends is read only as far as its explanation needs (64 KiB).
func TestAnEndlessAnswerIsBounded(t *testing.T) {
	ingesttest.EndlessAnswers(t, hostilePass(Config{User: "alice", Password: "s3cret"}),
		ingesttest.EndlessCase{Name: "200, chunked", H: ingesttest.EndlessBody(http.StatusOK, false),
			Want: "body larger than 1048576 bytes: refused", AtMost: smallAnswerBytes + 1},
		ingesttest.EndlessCase{Name: "200 with Content-Length 1 GiB", H: ingesttest.EndlessBody(http.StatusOK, true),
			Want: "body larger than 1048576 bytes (Content-Length 1073741824): refused unread", AtMost: 0},
		ingesttest.EndlessCase{Name: "500", H: ingesttest.EndlessBody(http.StatusInternalServerError, false),
			Want: "HTTP 500", AtMost: int64(fast.MaxAttempts * (errorBodyBytes + 1))},
	)
}

// TestAGetblockAnswerMayBeLarge: getblock's answer is bounded by MaxBodyBytes, not by the small
// bound of the other calls.
func TestAGetblockAnswerMayBeLarge(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		if c.Method != "getblock" {
			return reply{}, false
		}
		var m map[string]any
		if err := json.Unmarshal(node.fixture("getblock_900123.json"), &m); err != nil {
			t.Fatal(err)
		}
		m["padding"] = strings.Repeat("x", 2*smallAnswerBytes)
		b, _ := json.Marshal(m)
		return reply{body: b}, true
	}
	if _, err := node.client(t).BlockAt(context.Background(), 900123); err != nil {
		t.Fatal(err)
	}
}
