package bitcoind

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
)

const hash900123 = "00000000000000000000eee624774c52ce5cc0da8427b1f97620ed2739e9f0ad"

// rpcCall is a request as the fake node received it.
type rpcCall struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
	Auth    string            `json:"-"` // "user:password" from the Authorization header
}

func (c rpcCall) key() string {
	var ps []string
	for _, p := range c.Params {
		ps = append(ps, string(p))
	}
	return c.Method + " [" + strings.Join(ps, ",") + "]"
}

// reply is what the fake node answers.
type reply struct {
	status int
	header map[string]string
	body   []byte // a testdata response; its id is replaced by the request's
	raw    bool   // send body as is (no id rewrite): for truncated or malformed bodies
	hang   bool   // answer nothing until the client gives up
}

// fakeNode is a bitcoind stand-in that answers from testdata/ by default; answer can
// override any call. It records every call.
type fakeNode struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []rpcCall
	accept func(auth string) bool
	answer func(n int, c rpcCall) (reply, bool) // n: 0-based index of the call
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{t: t, accept: func(auth string) bool { return auth == "alice:s3cret" }}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) fixture(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fakeNode) defaultReply(c rpcCall) reply {
	switch c.key() {
	case "getblockchaininfo []":
		return reply{body: f.fixture("getblockchaininfo.json")}
	case "getblockhash [900123]":
		return reply{body: f.fixture("getblockhash_900123.json")}
	case fmt.Sprintf("getblock [%q,2]", hash900123):
		return reply{body: f.fixture("getblock_900123.json")}
	}
	if c.Method == "getblockhash" {
		// What Core answers a legacy request for a height above its tip.
		return reply{status: http.StatusInternalServerError, body: f.fixture("error_height_out_of_range.json")}
	}
	return reply{status: http.StatusNotFound, body: []byte(`{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":null}`)}
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	var c rpcCall
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if u, p, ok := r.BasicAuth(); ok {
		c.Auth = u + ":" + p
	}
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if !f.accept(c.Auth) {
		w.WriteHeader(http.StatusUnauthorized) // bitcoind sends 401 with an empty body
		return
	}
	rep, ok := reply{}, false
	if f.answer != nil {
		rep, ok = f.answer(n, c)
	}
	if !ok {
		rep = f.defaultReply(c)
	}
	if rep.hang {
		<-r.Context().Done()
		return
	}
	body := rep.body
	if !rep.raw {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			f.t.Errorf("fixture: %v", err)
		}
		m["id"] = c.ID
		body, _ = json.Marshal(m)
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	_, _ = w.Write(body)
}

func (f *fakeNode) recorded() []rpcCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rpcCall(nil), f.calls...)
}

// client returns a user/password client of f with fast retries.
func (f *fakeNode) client(t *testing.T, edit ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{URL: f.srv.URL, User: "alice", Password: "s3cret",
		HTTP: ingest.HTTPConfig{Timeout: 5 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond}}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBlockAtReadsTheBlockWithGetblockhashThenGetblockVerbosity2(t *testing.T) {
	node := newFakeNode(t)
	b, err := node.client(t).BlockAt(context.Background(), 900123)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "getblock_900123.golden.json", golden(b))
	calls := node.recorded()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	if got := calls[0].key(); got != "getblockhash [900123]" {
		t.Errorf("first call %s", got)
	}
	if got, want := calls[1].key(), fmt.Sprintf("getblock [%q,2]", hash900123); got != want {
		t.Errorf("second call %s, want %s", got, want)
	}
	for _, c := range calls {
		if c.JSONRPC != "1.0" || c.Auth != "alice:s3cret" {
			t.Errorf("call %s: jsonrpc %q auth %q, want a 1.0 request with basic auth", c.Method, c.JSONRPC, c.Auth)
		}
	}
}

func TestTipHeightIsGetblockchaininfoBlocks(t *testing.T) {
	node := newFakeNode(t)
	h, err := node.client(t).TipHeight(context.Background())
	if err != nil || h != 900130 {
		t.Fatalf("TipHeight = %d, %v, want 900130", h, err)
	}
}

func TestBlockAtAboveTheTipIsHeightOutOfRangeWithoutRetry(t *testing.T) {
	node := newFakeNode(t)
	_, err := node.client(t).BlockAt(context.Background(), 900200)
	if !errors.Is(err, ErrHeightOutOfRange) {
		t.Fatalf("err = %v, want ErrHeightOutOfRange", err)
	}
	var re *RPCError
	if !errors.As(err, &re) || re.Code != -8 {
		t.Errorf("err = %v, want the RPCError -8 inside", err)
	}
	for _, want := range []string{"bitcoind", "getblockhash [900200]", "Block height out of range", "height 900200"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if n := len(node.recorded()); n != 1 {
		t.Errorf("%d requests, want 1: an RPC error under HTTP 500 is an answer, not a server fault", n)
	}
}

func TestRetries429AfterRetryAfterCappedByMaxBackoff(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		if n == 0 {
			return reply{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "1"}, body: []byte("slow down"), raw: true}, true
		}
		return reply{}, false
	}
	c := node.client(t, func(cfg *Config) { cfg.HTTP.MaxBackoff = 100 * time.Millisecond })
	start := time.Now()
	h, err := c.TipHeight(context.Background())
	if err != nil || h != 900130 {
		t.Fatalf("TipHeight = %d, %v", h, err)
	}
	if n := len(node.recorded()); n != 2 {
		t.Errorf("%d requests, want 2 (the 429, then the retry)", n)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 900*time.Millisecond {
		t.Errorf("took %v: want the 1 s Retry-After capped at MaxBackoff 100 ms", d)
	}
}

func TestRetryWaitIsTheRetryAfterWhenBelowMaxBackoff(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		if n == 0 {
			return reply{status: http.StatusServiceUnavailable, header: map[string]string{"Retry-After": "1"}, body: []byte("Work queue depth exceeded"), raw: true}, true
		}
		return reply{}, false
	}
	c := node.client(t, func(cfg *Config) { cfg.HTTP.MaxBackoff = 10 * time.Second })
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	if _, err := c.TipHeight(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != time.Second {
		t.Fatalf("waits %v, want exactly the 1 s of Retry-After", waits)
	}
}

func TestWarmupRPCErrorIsRetried(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		if n == 0 {
			return reply{status: http.StatusInternalServerError, body: []byte(`{"result":null,"error":{"code":-28,"message":"Loading block index…"},"id":1}`)}, true
		}
		return reply{}, false
	}
	if h, err := node.client(t).TipHeight(context.Background()); err != nil || h != 900130 {
		t.Fatalf("TipHeight = %d, %v", h, err)
	}
	if n := len(node.recorded()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestJSONRPC2StyleErrorWithHTTP200IsAnRPCError(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		return reply{body: []byte(`{"jsonrpc":"2.0","error":{"code":-8,"message":"Block height out of range"},"id":1}`)}, true
	}
	_, err := node.client(t).BlockAt(context.Background(), 900200)
	if !errors.Is(err, ErrHeightOutOfRange) {
		t.Fatalf("err = %v, want ErrHeightOutOfRange", err)
	}
}

func TestUnauthorizedFailsAtOnceWithClearErrorAndNoPassword(t *testing.T) {
	node := newFakeNode(t)
	c := node.client(t, func(cfg *Config) { cfg.Password = "wrong-password" })
	_, err := c.TipHeight(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"bitcoind", "getblockchaininfo", "HTTP 401", "credentials"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "wrong-password") {
		t.Errorf("error %q shows the password", msg)
	}
	if n := len(node.recorded()); n != 1 {
		t.Errorf("%d requests, want exactly 1: bad credentials do not get better", n)
	}
}

func writeCookie(t *testing.T, path, secret string) {
	t.Helper()
	// Write then rename, as a restarting bitcoind replaces the file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte("__cookie__:"+secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestCookieIsReReadAfter401WhenBitcoindRestarted(t *testing.T) {
	node := newFakeNode(t)
	var want atomic.Value
	want.Store("__cookie__:old")
	node.accept = func(auth string) bool { return auth == want.Load().(string) }
	cookie := filepath.Join(t.TempDir(), ".cookie")
	writeCookie(t, cookie, "old")
	c := node.client(t, func(cfg *Config) { cfg.User, cfg.Password, cfg.CookieFile = "", "", cookie })

	if _, err := c.TipHeight(context.Background()); err != nil {
		t.Fatalf("with the first cookie: %v", err)
	}
	// bitcoind restarts: new cookie file, old cookie refused.
	writeCookie(t, cookie, "new")
	want.Store("__cookie__:new")
	if h, err := c.TipHeight(context.Background()); err != nil || h != 900130 {
		t.Fatalf("after the restart: %d, %v", h, err)
	}
	calls := node.recorded()
	var auths []string
	for _, c := range calls {
		auths = append(auths, c.Auth)
	}
	if got := strings.Join(auths, " "); got != "__cookie__:old __cookie__:old __cookie__:new" {
		t.Errorf("credentials sent: %s; want old, old (refused), then new", got)
	}
}

func TestUnchangedCookieAfter401FailsWithOneRequest(t *testing.T) {
	node := newFakeNode(t)
	node.accept = func(string) bool { return false }
	cookie := filepath.Join(t.TempDir(), ".cookie")
	writeCookie(t, cookie, "stale")
	c := node.client(t, func(cfg *Config) { cfg.User, cfg.Password, cfg.CookieFile = "", "", cookie })
	_, err := c.TipHeight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("err = %v, want a 401", err)
	}
	if strings.Contains(err.Error(), "stale") {
		t.Errorf("error %q shows the cookie", err)
	}
	if n := len(node.recorded()); n != 1 {
		t.Errorf("%d requests, want 1: the cookie did not change, so there is nothing new to try", n)
	}
}

func TestMissingCookieFileFailsBeforeAnyRequest(t *testing.T) {
	node := newFakeNode(t)
	c := node.client(t, func(cfg *Config) {
		cfg.User, cfg.Password, cfg.CookieFile = "", "", filepath.Join(t.TempDir(), "nope", ".cookie")
	})
	_, err := c.TipHeight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cookie file") {
		t.Fatalf("err = %v, want it to name the cookie file", err)
	}
	if n := len(node.recorded()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestTruncatedBlockNamesSourceMethodHeightAndFault(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		if c.Method != "getblock" {
			return reply{}, false
		}
		body, err := os.ReadFile(filepath.Join("testdata", "getblock_900123.json"))
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.Replace(body, []byte(`"id": 3`), []byte(`"id": `+string(c.ID)), 1)
		return reply{body: body[:len(body)/2], raw: true}, true
	}
	_, err := node.client(t).BlockAt(context.Background(), 900123)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"bitcoind", "getblock", "height 900123", "truncated"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if n := len(node.recorded()); n != 2 {
		t.Errorf("%d requests, want 2: a truncated answer ends the run instead of being retried", n)
	}
}

func TestBlockAtRefusesABlockAtAnotherHeight(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(n int, c rpcCall) (reply, bool) {
		if c.key() == "getblockhash [900124]" { // a node that answers with the wrong block
			body, _ := os.ReadFile(filepath.Join("testdata", "getblockhash_900123.json"))
			return reply{body: body}, true
		}
		return reply{}, false
	}
	_, err := node.client(t).BlockAt(context.Background(), 900124)
	if err == nil || !strings.Contains(err.Error(), "height 900123 in the response, want 900124") {
		t.Fatalf("err = %v, want a height mismatch", err)
	}
}

func TestHangingNodeTimesOutAndIsRetried(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(int, rpcCall) (reply, bool) { return reply{hang: true}, true }
	c := node.client(t, func(cfg *Config) {
		cfg.HTTP.Timeout = 100 * time.Millisecond
		cfg.HTTP.MaxAttempts = 2
	})
	start := time.Now()
	_, err := c.TipHeight(context.Background())
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want about 2 × 100 ms", d)
	}
	if n := len(node.recorded()); n != 2 {
		t.Errorf("%d requests, want 2 (MaxAttempts)", n)
	}
}

func TestCancelledContextStopsRetrying(t *testing.T) {
	node := newFakeNode(t)
	node.answer = func(int, rpcCall) (reply, bool) {
		return reply{status: http.StatusServiceUnavailable, body: []byte("busy"), raw: true}, true
	}
	c := node.client(t, func(cfg *Config) { cfg.HTTP.BaseBackoff, cfg.HTTP.MaxBackoff = time.Hour, time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.TipHeight(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"a cookie file alone is enough (URL defaults)", Config{CookieFile: "/data/.cookie"}, ""},
		{"user with password", Config{URL: "http://10.0.0.5:8332", User: "u", Password: "p"}, ""},
		{"user with password file", Config{User: "u", PasswordFile: "/run/secrets/rpc"}, ""},
		{"no authentication is refused", Config{}, "set CookieFile"},
		{"cookie and user together are refused", Config{CookieFile: "c", User: "u", Password: "p"}, "not both"},
		{"user without password is refused", Config{User: "u"}, "Password"},
		{"credentials in the URL are refused", Config{URL: "http://u:p@127.0.0.1:8332", CookieFile: "c"}, "credentials in the URL"},
		{"a non-http URL is refused", Config{URL: "tcp://127.0.0.1:8332", CookieFile: "c"}, "scheme"},
		{"a negative timeout is refused", Config{CookieFile: "c", HTTP: ingest.HTTPConfig{Timeout: -1}}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfigPrintsWithoutPassword(t *testing.T) {
	cfg := Config{URL: DefaultURL, User: "u", Password: "hunter2"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%v", &cfg)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%q shows the password", s)
		}
	}
}

func TestClientPrintsWithoutPassword(t *testing.T) {
	c, err := New(Config{User: "u", Password: "hunter2"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%v", c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%q shows the password", s)
		}
	}
}

func TestPasswordFileIsRead(t *testing.T) {
	node := newFakeNode(t)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := node.client(t, func(cfg *Config) { cfg.Password, cfg.PasswordFile = "", pw })
	if _, err := c.TipHeight(context.Background()); err != nil {
		t.Fatal(err)
	}
}
