package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashatlas/hashatlas/ingest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"
	"github.com/sirupsen/logrus"
)

// Short-lived commands cannot be scraped: Prometheus' advice for batch jobs is to push their
// metrics to a Pushgateway when they end (https://prometheus.io/docs/practices/pushing/). A
// Kubernetes CronJob run of `collect SOURCE --once` and the migrations Job do that with
// --metrics.pushgateway.

// pushCommands are the one-shot commands that take --metrics.pushgateway. Long-running ones
// (estimate, run) serve /metrics on --metrics.listen instead: a pushed copy of their metrics
// would outlive them and look current.
var pushCommands = map[string]bool{"collect": true, "migrate": true}

const (
	// pushFlag is the flag naming the Pushgateway.
	pushFlag = "metrics.pushgateway"
	// pushTimeout bounds one push, so that an unreachable Pushgateway cannot hold a finished
	// run (a CronJob pod) for long.
	pushTimeout = 10 * time.Second
	// pushedPrefix selects the families pushed: the command's own metrics. The Go runtime and
	// process collectors describe a process that is gone once the push is read.
	pushedPrefix = "hashatlas_"
	// collectorLabel is the label of the collector metrics (ingest.Runner) that becomes the
	// grouping key of a collect run.
	collectorLabel = "collector"
)

// pushURL is the value of --metrics.pushgateway. Its String masks a password in the URL, so
// that --check-config and the logs never show it.
type pushURL struct{ raw string }

func (u *pushURL) String() string {
	if u == nil || u.raw == "" {
		return ""
	}
	return redactUserinfo(u.raw)
}

func (u *pushURL) Set(s string) error {
	u.raw = strings.TrimSpace(s)
	return nil
}

// redactUserinfo replaces the password of a URL's user information with "***".
func redactUserinfo(raw string) string {
	p, err := url.Parse(raw)
	if err != nil || p.User == nil {
		return ingest.RedactURL(raw)
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "***")
	}
	// url.String escapes "*" in user information; keep the mask readable.
	return strings.Replace(p.String(), "%2A%2A%2A@", "***@", 1)
}

// metricsPusher pushes a command's metrics to the Pushgateway when the command ends.
type metricsPusher struct {
	url    pushURL
	client *http.Client // nil: a client with pushTimeout
}

// registerPush adds --metrics.pushgateway to the one-shot commands and arranges the push when
// the command ends (after every other release function, so that writers have flushed).
func (c *cli) registerPush() {
	if !pushCommands[c.name] {
		return
	}
	p := &metricsPusher{}
	c.fs.Var(&p.url, pushFlag, "push this run's metrics to the Prometheus Pushgateway at this URL (http(s)://host:port) when the command ends, under job=hashatlas-"+c.name+
		" (collect: grouped by collector); a failed push is logged and does not change the exit code (empty: no push)")
	c.addValidator(func() error { return p.validate(c) })
	c.onClose(func() { p.pushOnExit(c) })
}

func (p *metricsPusher) validate(c *cli) error {
	if p.url.raw == "" {
		return nil
	}
	u, err := url.Parse(p.url.raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return flagErr(pushFlag, p.url.String(), "must be an http(s) URL with a host, e.g. http://pushgateway:9091")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return flagErr(pushFlag, p.url.String(), "must have no query or fragment: /metrics/job/... is appended to it")
	}
	if f := c.fs.Lookup("schedule"); f != nil && f.Value.String() != "" {
		return flagErr(pushFlag, p.url.String(), "is for one pass (--once); a scheduled collector is long-running: scrape --metrics.listen instead")
	}
	return nil
}

// pushOnExit pushes what the command recorded; a failure is logged as a warning only.
func (p *metricsPusher) pushOnExit(c *cli) {
	if p.url.raw == "" {
		return
	}
	log := c.logger().WithFields(logrus.Fields{"pushgateway": p.url.String(), "job": pushJob(c.name)})
	if c.registry == nil {
		log.Warn("no metrics to push: the command ended before it recorded any")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	grouping, err := p.push(ctx, c.name, c.registry)
	if err != nil {
		log.WithField("err", err).Warn("metrics not pushed; the run's outcome is in its exit code and logs")
		return
	}
	fields := logrus.Fields{}
	for k, v := range grouping {
		fields[k] = v
	}
	log.WithFields(fields).Info("metrics pushed")
}

// pushJob is the Pushgateway job of a command.
func pushJob(command string) string { return "hashatlas-" + command }

// push sends the hashatlas_* families of g to the Pushgateway with POST, which replaces only the
// pushed metric names of the group: a run that failed before a pass finished keeps the
// group's last-success timestamp from an earlier run, which is what a staleness alert needs
// (PUT would delete it). A collect run is grouped by its collector; the label moves from the
// metrics into the grouping key, as the Pushgateway requires. It returns the grouping labels
// used, without the job.
func (p *metricsPusher) push(ctx context.Context, command string, g prometheus.Gatherer) (map[string]string, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	var own []*dto.MetricFamily
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), pushedPrefix) {
			own = append(own, mf)
		}
	}
	grouping := map[string]string{}
	if command == "collect" {
		name, err := collectorOf(own)
		if err != nil {
			return nil, err
		}
		own = withoutLabel(own, collectorLabel)
		grouping[collectorLabel] = name
	}
	u, err := url.Parse(p.url.raw)
	if err != nil {
		return nil, fmt.Errorf("parse --%s: %w", pushFlag, err)
	}
	user := u.User
	u.User = nil // sent as basic auth below, so that no error message carries the password
	client := p.client
	if client == nil {
		client = &http.Client{Timeout: pushTimeout}
	}
	pusher := push.New(u.String(), pushJob(command)).
		Gatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return own, nil })).
		Client(client)
	if user != nil {
		pw, _ := user.Password()
		pusher = pusher.BasicAuth(user.Username(), pw)
	}
	for k, v := range grouping {
		pusher = pusher.Grouping(k, v)
	}
	if err := pusher.AddContext(ctx); err != nil {
		return nil, fmt.Errorf("push %d metric families to %s: %w", len(own), redactUserinfo(p.url.raw), err)
	}
	return grouping, nil
}

// collectorOf returns the one collector the families' collector label names.
func collectorOf(mfs []*dto.MetricFamily) (string, error) {
	seen := map[string]bool{}
	var names []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == collectorLabel && !seen[l.GetValue()] {
					seen[l.GetValue()] = true
					names = append(names, l.GetValue())
				}
			}
		}
	}
	switch len(names) {
	case 1:
		return names[0], nil
	case 0:
		return "", errors.New("no collector metrics recorded: the run ended before its pass, so there is no outcome to push (see the exit code and logs)")
	default:
		return "", fmt.Errorf("metrics of several collectors (%s) in one run; cannot group them", strings.Join(names, ", "))
	}
}

// withoutLabel returns copies of the families with the label removed from every metric; the
// input is not modified.
func withoutLabel(mfs []*dto.MetricFamily, label string) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(mfs))
	for _, mf := range mfs {
		cp := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit}
		for _, m := range mf.GetMetric() {
			mc := &dto.Metric{
				Gauge: m.Gauge, Counter: m.Counter, Summary: m.Summary, Untyped: m.Untyped,
				Histogram: m.Histogram, TimestampMs: m.TimestampMs,
			}
			for _, l := range m.GetLabel() {
				if l.GetName() != label {
					mc.Label = append(mc.Label, l)
				}
			}
			cp.Metric = append(cp.Metric, mc)
		}
		out = append(out, cp)
	}
	return out
}
