package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hashatlas/hashatlas/ingest/ingesttest"
)

func TestRedactorRemovesRegisteredSecretsInEveryEncoding(t *testing.T) {
	const user, pass, token = "alice", "pa+ss/w0rd=", "tok_0123456789abcdef"
	r := NewRedactor()
	r.AddBasicAuth(user, pass)
	r.AddSecret(token)
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	for _, text := range []string{
		"refused " + pass,
		"refused " + user + ":" + pass,
		"refused " + basic,
		"refused " + base64.RawURLEncoding.EncodeToString([]byte(user+":"+pass)),
		"refused " + url.QueryEscape(pass),
		"refused " + url.QueryEscape(basic),
		`{"echo":"` + strings.ReplaceAll(basic, "/", `\/`) + `"}`,
		"refused " + token + " and " + base64.StdEncoding.EncodeToString([]byte(token)),
	} {
		got := r.String(text)
		ingesttest.NoSecret(t, "String("+text+")", got, pass, user+":"+pass, token)
		if !strings.Contains(got, Redacted) {
			t.Errorf("String(%q) = %q: nothing says what was removed", text, got)
		}
	}
	if got := r.String("user alice logged in"); got != "user alice logged in" {
		t.Errorf("the user name alone is not a secret, but %q became %q", "user alice logged in", got)
	}
}

func TestRedactorRemovesWhatLooksLikeACredential(t *testing.T) {
	const secret = "Zm9vOmJhcjEyMw" // unregistered
	basic := base64.StdEncoding.EncodeToString([]byte("foo:bar123"))
	var nilRedactor *Redactor
	for _, text := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + basic + "\r\n",
		"Authorization: Bearer " + secret,
		"Proxy-Authorization: Digest username=x, response=" + secret,
		"> Cookie: session=" + secret + "; theme=dark",
		"Set-Cookie: sid=" + secret + "; Path=/; HttpOnly",
		"SlushPool-Auth-Token: " + secret,
		"X-Api-Key: " + secret,
		`{"headers":{"Authorization":"Basic ` + basic + `","Accept":"*/*"}}`,
		`{"headers":{"X-Auth-Token":["` + secret + `"]}}`,
		`{"password": "` + secret + `", "user": "x"}`,
		"map[Authorization:[Basic " + basic + "] User-Agent:[hashatlas]]",
		"GET /v2/data?api_key=" + secret + "&frequency=hourly",
		"bad form: user=x&password=" + secret,
		"see https://foo:" + secret + "@example.org/api",
		"header was authorization=Basic " + basic,
		"cookie: a=" + secret,
	} {
		got := nilRedactor.String(text)
		ingesttest.NoSecret(t, "String("+text+")", got, secret, "foo:bar123")
		if !strings.Contains(got, Redacted) {
			t.Errorf("String(%q) = %q: nothing says what was removed", text, got)
		}
	}
}

func TestRedactorLeavesPlainErrorsAlone(t *testing.T) {
	for _, text := range []string{
		"Basic authentication required",
		`Bearer realm="example"`,
		"esplora: GET http://127.0.0.1:3000/api/blocks/900200: HTTP 404: Block not found",
		`eia: GET https://api.eia.gov/v2/x?api_key=REDACTED&frequency=hourly: HTTP 403 (check the API key or credentials): {"error":{"code":"API_KEY_INVALID","message":"An invalid api_key was supplied."}}`,
		"bitcoind: getblockchaininfo []: read cookie file (is bitcoind running with this datadir?): open /home/x/.bitcoin/.cookie: no such file or directory",
		"braiins: the access token was refused",
		"sort[0][column]=period&offset=5000",
	} {
		if got := NewRedactor().String(text); got != text {
			t.Errorf("String(%q) = %q, want it unchanged", text, got)
		}
	}
}

func TestRedactorRegistersTheCredentialsOfAURL(t *testing.T) {
	r := NewRedactor()
	r.AddURL("https://bob:hunter2pass@example.org/api?token=t0k3n-value&x=1")
	r.AddURL("https://only-a-key-as-user@example.org/api")
	text := "echo: hunter2pass " + base64.StdEncoding.EncodeToString([]byte("bob:hunter2pass")) + " t0k3n-value " +
		base64.StdEncoding.EncodeToString([]byte("only-a-key-as-user:"))
	ingesttest.NoSecret(t, "String", r.String(text), "hunter2pass", "bob:hunter2pass", "t0k3n-value", "only-a-key-as-user:")
	if u := r.URL("https://bob:hunter2pass@example.org/api/x?token=t0k3n-value"); strings.Contains(u, "hunter2pass") || strings.Contains(u, "t0k3n-value") || strings.Contains(u, "bob") {
		t.Errorf("URL left credentials: %s", u)
	}
}

func TestSnippetIsRedactedBeforeItIsClippedAndOnOneLine(t *testing.T) {
	r := NewRedactor()
	secret := strings.Repeat("s", 40) + "SECRET"
	r.AddSecret(secret)
	// The secret straddles the 200 bytes kept: clipping first would leave its start.
	body := strings.Repeat("a", 180) + "\n" + secret + "\nmore"
	got := r.Snippet([]byte(body))
	if strings.Contains(got, "ssssssssss") || strings.Contains(got, "\n") || len(got) > snippetBytes+len("…") {
		t.Fatalf("Snippet = %q", got)
	}
	// UTF-8 is cut at a character boundary.
	if got := r.Snippet([]byte(strings.Repeat("é", 150))); !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") || strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("Snippet cut a character: %q", got)
	}
}

func TestRedactedErrorUnwrapsToTheOriginal(t *testing.T) {
	r := NewRedactor()
	r.AddSecret("k3y-value-123")
	inner := &StatusError{Source: "s", URL: "u", StatusCode: 500, Body: "k3y-value-123"}
	err := r.Error(fmt.Errorf("wrapped: %w", inner))
	if strings.Contains(err.Error(), "k3y-value-123") {
		t.Fatalf("Error = %v", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se != inner {
		t.Fatalf("errors.As does not find the StatusError in %v", err)
	}
	plain := errors.New("nothing secret")
	if r.Error(plain) != plain || r.Error(nil) != nil {
		t.Fatal("an error with nothing to remove is not returned as is")
	}
}

// TestGetKeepsCredentialsOutOfErrorsAndLogs: a server that echoes the request it got, in every
// format, with a status that is retried (500: each failure logged) and one that is not (401),
// to a client whose URL carries credentials in its user information and its query and which
// sends a token header. Neither the error nor any log line may carry a credential.
func TestGetKeepsCredentialsOutOfErrorsAndLogs(t *testing.T) {
	const user, pass, key, token = "carol", "s3cr3t-pw", "k3y0123456789", "t0ken-abcdef-123"
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized} {
		for _, format := range ingesttest.EchoFormats {
			t.Run(fmt.Sprintf("%d/%s", status, format), func(t *testing.T) {
				srv := httptest.NewServer(ingesttest.Echo(status, format))
				defer srv.Close()
				logs := ingesttest.NewLogs()
				c := NewHTTPClient("testsource", HTTPConfig{BaseBackoff: 1, MaxBackoff: 1, MaxAttempts: 2}, nil, logs)
				c.Redactor().AddSecret(token)
				u := strings.Replace(srv.URL, "http://", "http://"+user+":"+pass+"@", 1) + "/x?api_key=" + key
				_, err := c.Get(context.Background(), u, http.Header{"X-Token": {token}})
				if err == nil {
					t.Fatal("no error")
				}
				if status == http.StatusInternalServerError && !strings.Contains(logs.String(), "retrying") {
					t.Fatalf("the retry was not logged, so the logs prove nothing:\n%s", logs)
				}
				ingesttest.NoSecret(t, "the error", err.Error(), pass, user+":"+pass, key, token)
				ingesttest.NoSecret(t, "the logs", logs.String(), pass, user+":"+pass, key, token)
				if !strings.Contains(err.Error(), Redacted) {
					t.Errorf("the error %q does not show that something was removed", err)
				}
			})
		}
	}
}

func TestARedactorDoesNotGarbleMessagesWithAVeryShortSecret(t *testing.T) {
	r := NewRedactor()
	r.AddBasicAuth("a", "b")
	msg := "bitcoind: getblock: body larger than 67108864 bytes"
	if got := r.String(msg); got != msg {
		t.Errorf("String(%q) = %q", msg, got)
	}
	// The patterns still find it.
	if got := r.String("Authorization: Basic YTpi"); strings.Contains(got, "YTpi") {
		t.Errorf("the Authorization header kept its credential: %q", got)
	}
}
