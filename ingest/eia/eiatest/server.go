// Package eiatest is a stand-in for the EIA Open Data API v2 for tests and benchmarks: an
// httptest server answering the two EIA-930 hourly routes (electricity/rto/region-data and
// electricity/rto/fuel-type-data) from rows held in memory, with the documented request
// parameters (api_key, frequency, data[0], facets, start/end, sort, offset/length capped at
// 5,000 rows) and the documented answer: {"response": {"total": "<count as a string>",
// "dateFormat", "frequency", "data": [{"period", "respondent", "respondent-name", "type" or
// "fueltype", "type-name", "value" (a string, null for a missing hour), "value-units":
// "megawatthours"}], "warnings"?}, "request": {...}, "apiVersion"}. A bad key gets 403 with
// the key gateway's {"error": {"code": "API_KEY_INVALID", "message"}}; a bad parameter gets
// 400 with {"error": "...", "code": 400}. See https://www.eia.gov/opendata/documentation.php.
package eiatest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Route paths, as appended to the base URL (the server's URL).
const (
	RegionDataPath   = "/electricity/rto/region-data/data/"
	FuelTypeDataPath = "/electricity/rto/fuel-type-data/data/"
)

// MaxLength is the API's row limit per JSON request.
const MaxLength = 5000

// Row is one hourly value of a route.
type Row struct {
	// End is the end of the hour (UTC), which is how EIA-930 labels it.
	End time.Time
	// Respondent is the balancing authority code.
	Respondent string
	// Code is the type (region-data) or fueltype (fuel-type-data).
	Code string
	// Value is the value as the API writes it (a string since v2.1.6); Null makes it null.
	Value string
	Null  bool
}

// Label is the row's hourly period label ("2024-01-01T05").
func (r Row) Label() string { return r.End.UTC().Format("2006-01-02T15") }

// Server is the fake API. Its fields may be set before the first request.
type Server struct {
	// URL is the base URL to give the client (the routes are under it).
	URL string
	// Key is the API key the server accepts.
	Key string
	// Fault, when set, is called first for every request (n counts from 0); returning true
	// means it answered.
	Fault func(n int, w http.ResponseWriter, r *http.Request) bool

	srv      *httptest.Server
	mu       sync.Mutex
	rows     map[string][]Row
	sorted   map[string]bool
	requests []*url.URL
}

// New starts a server accepting key; Close it when done.
func New(key string) *Server {
	s := &Server{Key: key, rows: map[string][]Row{}, sorted: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Add stores rows under a route path (RegionDataPath or FuelTypeDataPath).
func (s *Server) Add(path string, rows ...Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows[path] = append(s.rows[path], rows...)
	s.sorted[path] = false
}

// Set replaces the value of the row (path, respondent, code, end), as a revision would.
func (s *Server) Set(path, respondent, code string, end time.Time, value string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rows[path] {
		if r.Respondent == respondent && r.Code == code && r.End.Equal(end) {
			s.rows[path][i].Value, s.rows[path][i].Null = value, false
			return true
		}
	}
	return false
}

// Requests returns the URLs of every request so far (the caller owns the slice).
func (s *Server) Requests() []*url.URL {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*url.URL(nil), s.requests...)
}

// Hourly returns a row for every respondent, code and hour starting in [from, to), labelled
// by the hour's end, with value(respondent, code, start) formatted as EIA does.
func Hourly(respondents, codes []string, from, to time.Time, value func(respondent, code string, start time.Time) float64) []Row {
	var out []Row
	for t := from.UTC(); t.Before(to); t = t.Add(time.Hour) {
		for _, r := range respondents {
			for _, c := range codes {
				out = append(out, Row{End: t.Add(time.Hour), Respondent: r, Code: c,
					Value: strconv.FormatFloat(value(r, c, t), 'f', -1, 64)})
			}
		}
	}
	return out
}

type dataRow struct {
	Period         string  `json:"period"`
	Respondent     string  `json:"respondent"`
	RespondentName string  `json:"respondent-name"`
	Type           string  `json:"type,omitempty"`
	FuelType       string  `json:"fueltype,omitempty"`
	TypeName       string  `json:"type-name"`
	Value          *string `json:"value"`
	Units          string  `json:"value-units"`
}

type warning struct {
	Warning     string `json:"warning"`
	Description string `json:"description"`
}

type answer struct {
	Response struct {
		Warnings   []warning `json:"warnings,omitempty"`
		Total      string    `json:"total"`
		DateFormat string    `json:"dateFormat"`
		Frequency  string    `json:"frequency"`
		Data       []dataRow `json:"data"`
		Desc       string    `json:"description"`
	} `json:"response"`
	Request struct {
		Command string         `json:"command"`
		Params  map[string]any `json:"params"`
	} `json:"request"`
	APIVersion string `json:"apiVersion"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": msg, "code": 400})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.requests)
	u := *r.URL
	s.requests = append(s.requests, &u)
	fault := s.Fault
	s.mu.Unlock()
	if fault != nil && fault(n, w, r) {
		return
	}
	q := r.URL.Query()
	switch key := q.Get("api_key"); {
	case key == "":
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]string{"code": "API_KEY_MISSING",
			"message": "No api_key was supplied. Get one at https://www.eia.gov/opendata/register.php"}})
		return
	case key != s.Key:
		writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]string{"code": "API_KEY_INVALID",
			"message": "An invalid api_key was supplied. Get one at https://www.eia.gov/opendata/register.php"}})
		return
	}
	var facet string
	switch r.URL.Path {
	case RegionDataPath:
		facet = "type"
	case FuelTypeDataPath:
		facet = "fueltype"
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Not found: " + r.URL.Path, "code": 404})
		return
	}
	if f := q.Get("frequency"); f != "hourly" {
		badRequest(w, "Invalid frequency '"+f+"' provided. The only valid frequencies are 'hourly' and 'local-hourly'.")
		return
	}
	if q.Get("data[0]") != "value" {
		badRequest(w, "Invalid data column: the only valid data column is 'value'.")
		return
	}
	var start, end time.Time
	var err error
	if v := q.Get("start"); v != "" {
		if start, err = time.Parse("2006-01-02T15", v); err != nil {
			badRequest(w, "Invalid start '"+v+"'.")
			return
		}
	}
	if v := q.Get("end"); v != "" {
		if end, err = time.Parse("2006-01-02T15", v); err != nil {
			badRequest(w, "Invalid end '"+v+"'.")
			return
		}
	}
	offset, length := 0, MaxLength
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			badRequest(w, "Invalid offset '"+v+"'.")
			return
		}
	}
	var warnings []warning
	if v := q.Get("length"); v != "" {
		if length, err = strconv.Atoi(v); err != nil || length < 0 {
			badRequest(w, "Invalid length '"+v+"'.")
			return
		}
	}
	if length > MaxLength {
		length = MaxLength
		warnings = append(warnings, warning{Warning: "incomplete return",
			Description: "The API can only return 5000 rows in JSON format.  Please consider constraining your request with facet, start, or end, or using offset to paginate results."})
	}
	respondents, codes := set(q["facets[respondent][]"]), set(q["facets["+facet+"][]"])

	s.mu.Lock()
	path := r.URL.Path
	if !s.sorted[path] {
		rows := s.rows[path]
		sort.SliceStable(rows, func(i, j int) bool {
			a, b := rows[i], rows[j]
			if !a.End.Equal(b.End) {
				return a.End.Before(b.End)
			}
			if a.Respondent != b.Respondent {
				return a.Respondent < b.Respondent
			}
			return a.Code < b.Code
		})
		s.sorted[path] = true
	}
	var match []Row
	for _, row := range s.rows[path] {
		if (len(respondents) > 0 && !respondents[row.Respondent]) || (len(codes) > 0 && !codes[row.Code]) ||
			(!start.IsZero() && row.End.Before(start)) || (!end.IsZero() && row.End.After(end)) {
			continue
		}
		match = append(match, row)
	}
	s.mu.Unlock()

	var a answer
	a.Response.Warnings = warnings
	a.Response.Total = strconv.Itoa(len(match))
	a.Response.DateFormat = `YYYY-MM-DD"T"HH24`
	a.Response.Frequency = "hourly"
	a.Response.Desc = "Form EIA-930 hourly data (a test stand-in)"
	a.Response.Data = []dataRow{}
	for i := offset; i < len(match) && i < offset+length; i++ {
		row := match[i]
		d := dataRow{Period: row.Label(), Respondent: row.Respondent, RespondentName: row.Respondent + " (name)",
			TypeName: row.Code + " (name)", Units: "megawatthours"}
		if facet == "type" {
			d.Type = row.Code
		} else {
			d.FuelType = row.Code
		}
		if !row.Null {
			v := row.Value
			d.Value = &v
		}
		a.Response.Data = append(a.Response.Data, d)
	}
	a.Request.Command = "/v2" + path
	params := map[string]any{}
	for k, v := range q {
		if k != "api_key" {
			params[k] = strings.Join(v, ",")
		}
	}
	a.Request.Params = params
	a.APIVersion = "2.1.8"
	writeJSON(w, http.StatusOK, a)
}

func set(vs []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return m
}
