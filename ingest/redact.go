package ingest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Redacted replaces a credential in errors and log lines.
const Redacted = "REDACTED"

// snippetBytes is how much of an error body an error quotes.
const snippetBytes = 200

// Redactor removes credentials from text bound for an error or a log line: response bodies
// quoted in errors, error texts, URLs. It is the one place every source's client does so. A
// server that echoes the request it received (some gateways and proxies do, in a 4xx or 5xx
// body) would otherwise put the credentials the request carried into the logs.
//
// It removes two kinds of thing:
//   - the secrets registered with it (AddSecret, AddBasicAuth, AddURL), wherever they appear,
//     in every encoding a request or an echo of it may carry: as is, base64 (the form of
//     Authorization: Basic), URL query and path escaping, JSON escaping;
//   - whatever looks like a credential whether registered or not: the value of a header line
//     or JSON field whose name says credential (Authorization, Cookie, Set-Cookie, *-Token,
//     *-Key, *Secret*, *Password*, *Auth*, *Session*, and the names registered with AddName),
//     a query or form parameter so named (api_key=…, password=…, token=…), a Basic or Bearer
//     credential, and the user information of a URL (https://user:password@host).
//
// The zero value and nil are usable: they remove only what looks like a credential. A
// Redactor is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	secrets  map[string]bool
	names    map[string]bool // extra credential names, lower case
	replacer *strings.Replacer
}

// NewRedactor returns a Redactor with nothing registered.
func NewRedactor() *Redactor { return &Redactor{} }

// minSecretLen is the shortest registered form replaced wherever it appears: a shorter one
// would garble every message it occurs in ("b" in every word), and is guessed sooner than
// leaked. The patterns still remove it where they find it.
const minSecretLen = 6

// AddSecret registers credential values: each, and its encodings, is replaced by REDACTED
// wherever it appears (forms shorter than 6 bytes only where a pattern finds them). Empty
// values are ignored.
func (r *Redactor) AddSecret(values ...string) {
	var forms []string
	for _, v := range values {
		forms = append(forms, encodings(v)...)
	}
	r.add(forms, nil)
}

// AddBasicAuth registers the credentials of HTTP basic authentication: the password, and
// "user:password" with its base64, which is what Authorization: Basic carries. The user name
// alone is not a secret and stays.
func (r *Redactor) AddBasicAuth(user, password string) {
	if user == "" && password == "" {
		return
	}
	r.AddSecret(password, user+":"+password)
}

// AddURL registers the secrets a URL carries: the password of its user information (with
// user:password and its base64, which Go's client sends as basic authentication; a user
// without a password is itself the credential, as in https://TOKEN@host) and the values of
// query parameters named like credentials (api_key, token, …).
func (r *Redactor) AddURL(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	if u.User != nil {
		user := u.User.Username()
		if pw, ok := u.User.Password(); ok {
			r.AddBasicAuth(user, pw)
		} else {
			r.AddSecret(user, user+":")
		}
	}
	if u.RawQuery == "" {
		return
	}
	for k, vs := range u.Query() {
		if sensitiveName(k) {
			r.AddSecret(vs...)
		}
	}
}

// AddName registers header, query parameter or JSON field names whose values are
// credentials, beyond those that say so (Authorization, Cookie, *Token*, *Key*, …): a source's
// own authentication header, say.
func (r *Redactor) AddName(names ...string) {
	var lower []string
	for _, n := range names {
		if n != "" {
			lower = append(lower, strings.ToLower(n))
		}
	}
	r.add(nil, lower)
}

func (r *Redactor) add(forms, names []string) {
	if r == nil || len(forms) == 0 && len(names) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, f := range forms {
		if r.secrets == nil {
			r.secrets = map[string]bool{}
		}
		if !r.secrets[f] {
			r.secrets[f] = true
			changed = true
		}
	}
	for _, n := range names {
		if r.names == nil {
			r.names = map[string]bool{}
		}
		r.names[n] = true
	}
	if !changed {
		return
	}
	// Longest first, so that "user:password" goes before "password" and a base64 form before
	// any secret it happens to contain.
	all := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool {
		if len(all[i]) != len(all[j]) {
			return len(all[i]) > len(all[j])
		}
		return all[i] < all[j]
	})
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Redacted)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// encodings are the forms of a secret a request, or an echo of it, may carry.
func encodings(s string) []string {
	if s == "" {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	put := func(v string) {
		if len(v) >= minSecretLen && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	b := []byte(s)
	for _, form := range []string{s, base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
		put(form)
		put(url.QueryEscape(form))
		put(url.PathEscape(form))
		if j, err := json.Marshal(form); err == nil {
			put(string(j[1 : len(j)-1]))
		}
		put(strings.ReplaceAll(form, "/", `\/`))
	}
	return out
}

// credentialWords mark a name (of a header, a field, a query parameter) whose value is a
// credential. Matching is on the lower-case name with '-', '_' and '.' removed.
var credentialWords = []string{"auth", "cookie", "token", "secret", "passw", "pwd", "apikey", "key", "credential", "session", "signature"}

// sensitiveName reports whether a header, field or parameter of this name carries a
// credential.
func sensitiveName(name string) bool {
	n := strings.ToLower(name)
	n = strings.NewReplacer("-", "", "_", "", ".", "").Replace(n)
	// A public key is not a secret (Esplora's scriptpubkey, say).
	n = strings.NewReplacer("publickey", "", "pubkey", "").Replace(n)
	for _, w := range credentialWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func (r *Redactor) sensitive(name string) bool {
	if sensitiveName(name) {
		return true
	}
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.names[strings.ToLower(name)]
}

var (
	// headerLine: "Name: value" on a line of its own (an HTTP dump, a curl -v transcript).
	headerLine = regexp.MustCompile(`(?m)^([ \t>]*)([A-Za-z][A-Za-z0-9_.-]*)([ \t]*:[ \t]*)([^\r\n]*[^\s])`)
	// jsonField: "name": "value" or "name": ["value", …] (an echo as JSON).
	jsonField = regexp.MustCompile(`"([A-Za-z][A-Za-z0-9_.-]*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|\[\s*(?:"(?:[^"\\]|\\.)*"\s*,?\s*)*\]|[^\s,}\]{\["][^\s,}\]]*)`)
	// goMap: Name:[value …] (an http.Header printed with %v).
	goMap = regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9_-]*):\[([^\]]*)\]`)
	// scheme: an Authorization value anywhere: Basic or Bearer and the credential.
	scheme = regexp.MustCompile(`\b(Basic|Bearer|basic|bearer|BASIC|BEARER)(\s+)([A-Za-z0-9._~+/-]+=*)`)
	// cookie: Cookie: k=v; … anywhere on a line.
	cookie = regexp.MustCompile(`(?i)\b((?:set-)?cookie)("?\s*[:=]\s*"?)([^\s=";,]+=[^\r\n"]*)`)
	// param: name=value in a query string, a form or free text.
	param = regexp.MustCompile(`([A-Za-z][A-Za-z0-9_.\[\]-]*)=([^&\s"'<>#;,)]+)`)
	// userinfo: scheme://user:password@ in a URL.
	userinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@?#"'<>]+)@`)
)

// String returns s with every registered secret, and everything that looks like a credential,
// replaced by REDACTED.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	if r != nil {
		r.mu.RLock()
		rep := r.replacer
		r.mu.RUnlock()
		if rep != nil {
			s = rep.Replace(s)
		}
	}
	s = headerLine.ReplaceAllStringFunc(s, func(m string) string {
		g := headerLine.FindStringSubmatch(m)
		if !r.sensitive(g[2]) || g[4] == Redacted {
			return m
		}
		return g[1] + g[2] + g[3] + Redacted
	})
	s = jsonField.ReplaceAllStringFunc(s, func(m string) string {
		g := jsonField.FindStringSubmatch(m)
		if !r.sensitive(g[1]) || g[3] == `"`+Redacted+`"` {
			return m
		}
		return `"` + g[1] + `"` + g[2] + `"` + Redacted + `"`
	})
	s = goMap.ReplaceAllStringFunc(s, func(m string) string {
		g := goMap.FindStringSubmatch(m)
		if !r.sensitive(g[1]) {
			return m
		}
		return g[1] + ":[" + Redacted + "]"
	})
	s = scheme.ReplaceAllStringFunc(s, func(m string) string {
		g := scheme.FindStringSubmatch(m)
		if g[3] == Redacted || !looksLikeCredential(g[1], g[3]) {
			return m
		}
		return g[1] + g[2] + Redacted
	})
	s = cookie.ReplaceAllString(s, "${1}${2}"+Redacted)
	s = param.ReplaceAllStringFunc(s, func(m string) string {
		g := param.FindStringSubmatch(m)
		if !r.sensitive(g[1]) || g[2] == Redacted {
			return m
		}
		return g[1] + "=" + Redacted
	})
	s = userinfo.ReplaceAllString(s, "${1}"+Redacted+"@")
	return s
}

// looksLikeCredential tells a Basic or Bearer credential from the words that may follow those
// in prose ("Basic authentication required", "Bearer realm"): a Basic credential is base64 of
// user:password, a bearer token has a digit or punctuation in it.
func looksLikeCredential(kind, v string) bool {
	if strings.EqualFold(kind, "basic") {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(v); err == nil && strings.Contains(string(b), ":") {
				return true
			}
		}
		return false
	}
	return len(v) >= 8 && strings.ContainsAny(v, "0123456789._~+/-=")
}

// URL returns raw fit for an error or a log line: without user information, with the values
// of credential query parameters replaced (RedactURL), and without any registered secret.
func (r *Redactor) URL(raw string) string {
	shown := RedactURL(raw)
	if r == nil {
		return shown
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep != nil {
		shown = rep.Replace(shown)
	}
	return shown
}

// Snippet returns the start of a response body for an error message: redacted first (so that
// a secret cut in two by the clipping cannot survive), then on one line, at most 200 bytes.
func (r *Redactor) Snippet(body []byte) string {
	s := r.String(string(body))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= snippetBytes {
		return s
	}
	cut := snippetBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Error returns err with its message redacted; it unwraps to err, so errors.Is and errors.As
// see through it. An err whose message needs nothing removed is returned as is.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	var re *redactedError
	if errors.As(err, &re) && re.msg == err.Error() {
		// Redacted already, with nothing wrapped around it since.
		return err
	}
	msg := err.Error()
	red := r.String(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
