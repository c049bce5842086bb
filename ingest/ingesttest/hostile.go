package ingesttest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// Hostile and leaky servers for the sources' clients, and what their tests measure with.

// EchoFormats are the ways Echo writes a request back: an HTTP dump (a gateway's "bad request"
// page, curl -v), JSON (httpbin and its kind), and the bare credential values (a server that
// quotes what it refused).
var EchoFormats = []string{"dump", "json", "bare"}

// Echo answers every request with status and a body that echoes the whole request, headers and
// body, in format (one of EchoFormats). The credentials (Authorization, Cookie, and the headers
// named like tokens or keys) come first, so that they fall inside the part of a body an error
// quotes.
func Echo(status int, format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		sort.SliceStable(names, func(i, j int) bool { return credentialFirst(names[i]) < credentialFirst(names[j]) })
		var out bytes.Buffer
		switch format {
		case "dump":
			fmt.Fprintf(&out, "%s %s %s\r\n", r.Method, r.URL.RequestURI(), r.Proto)
			for _, k := range names {
				for _, v := range r.Header[k] {
					fmt.Fprintf(&out, "%s: %s\r\n", k, v)
				}
			}
			fmt.Fprintf(&out, "Host: %s\r\n\r\n%s", r.Host, body)
		case "json":
			// {"headers": {…}, "url": …, "body": …}, in this order (a map would sort them).
			out.WriteString(`{"headers":{`)
			for i, k := range names {
				if i > 0 {
					out.WriteByte(',')
				}
				kj, _ := json.Marshal(k)
				vj, _ := json.Marshal(strings.Join(r.Header[k], ", "))
				fmt.Fprintf(&out, "%s:%s", kj, vj)
			}
			uj, _ := json.Marshal(r.URL.RequestURI())
			bj, _ := json.Marshal(string(body))
			fmt.Fprintf(&out, `},"url":%s,"body":%s}`, uj, bj)
		default: // bare
			out.WriteString("refused:")
			for _, k := range names {
				if credentialFirst(k) == 0 {
					for _, v := range r.Header[k] {
						f := strings.Fields(v)
						out.WriteString(" " + f[len(f)-1])
					}
				}
			}
			fmt.Fprintf(&out, " for %s", r.URL.RequestURI())
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write(out.Bytes())
	}
}

// credentialFirst orders header names: credentials (0) before the rest (1).
func credentialFirst(name string) int {
	n := strings.ToLower(name)
	for _, w := range []string{"authorization", "cookie", "token", "key", "secret"} {
		if strings.Contains(n, w) {
			return 0
		}
	}
	return 1
}

// SlowLoris answers 200, then sends one byte every interval until the client goes away: a
// body that never ends and never stalls long enough for a read timeout.
func SlowLoris(interval time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fl, _ := w.(http.Flusher)
		if fl != nil {
			fl.Flush()
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				if fl != nil {
					fl.Flush()
				}
			}
		}
	}
}

// TooManyRequests answers 429 with Retry-After: seconds.
func TooManyRequests(seconds int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("Too Many Requests"))
	}
}

// EndlessBody answers status with a JSON array whose first string never ends, until the client
// stops reading (at most 1 GiB). With declare, the response says Content-Length: 1 GiB;
// otherwise it is chunked and the client learns its size only by reading.
func EndlessBody(status int, declare bool) http.HandlerFunc {
	const total = 1 << 30
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if declare {
			w.Header().Set("Content-Length", strconv.Itoa(total))
		}
		w.WriteHeader(status)
		head := []byte(`[{"result":"`)
		if _, err := w.Write(head); err != nil {
			return
		}
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for sent := len(head); sent < total; sent += len(chunk) {
			if len(chunk) > total-sent {
				chunk = chunk[:total-sent]
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

// CountingTransport is http.DefaultTransport counting the response body bytes its client reads.
type CountingTransport struct{ n atomic.Int64 }

// RoundTrip makes the request with http.DefaultTransport.
func (c *CountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
	return resp, nil
}

// BodyBytes is the number of response body bytes read so far.
func (c *CountingTransport) BodyBytes() int64 { return c.n.Load() }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Logs is a logrus logger at debug level and what it wrote.
type Logs struct {
	*logrus.Logger
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewLogs returns a logger at debug level that keeps what it writes.
func NewLogs() *Logs {
	l := &Logs{Logger: logrus.New()}
	l.SetOutput(writerFunc(func(p []byte) (int, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.buf.Write(p)
	}))
	l.SetLevel(logrus.DebugLevel)
	return l
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// SecretForms are a credential as a request carries it or an echo of it may: as is, in
// base64 (padded or not, standard or URL alphabet) and URL-escaped.
func SecretForms(secret string) []string {
	b := []byte(secret)
	return []string{secret, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
}

// NoSecret fails the test if text (named what) contains any of the forms (SecretForms) of any
// secret.
func NoSecret(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, f := range SecretForms(s) {
			if strings.Contains(text, f) {
				t.Errorf("%s contains the secret %q (as %q):\n%s", what, s, f, text)
				return
			}
		}
	}
}
