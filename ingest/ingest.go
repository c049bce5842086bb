// Package ingest is the collector contract of hashatlas: one collector pass is a function of a
// context that publishes what is new and returns; running it once (the Kubernetes CronJob mode)
// or on a cron schedule is this package's job, as are the retries, timeouts, rate limits and
// body bounds every HTTP source shares, the pass deadline they all live within, and the
// removal of credentials from everything they log or put in an error (Redactor). The sources
// themselves live in the sub-packages.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashatlas/hashatlas/schemas"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"
)

// Publisher sends messages to their topics (schemas.Message.Topic), keyed by their Key.
// A nil error means every message was acknowledged by all in-sync replicas; on error some may
// have been written and the caller must be able to publish them again (keys make that
// idempotent). Implementations are safe for concurrent use; the caller keeps the slice.
type Publisher interface {
	Publish(ctx context.Context, msgs ...schemas.Message) error
}

// Collector is one source. Collect does one pass: find where the last run left off, publish what
// is new, return. It must return promptly when ctx is cancelled. A nil error means the pass
// completed; an error means it stopped early, and everything it published before the error stays
// published so that the next pass resumes after it.
type Collector interface {
	Name() string
	Collect(ctx context.Context) error
}

// Runner runs collector passes and records their outcome as metrics that operators alert on
// (node_exporter style: duration, success, and the time of the last success).
type Runner struct {
	log         logrus.FieldLogger
	duration    *prometheus.GaugeVec
	success     *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	runsTotal   *prometheus.CounterVec
	now         func() time.Time
	passTimeout time.Duration
}

// NewRunner makes a Runner whose metrics are registered on reg (nil: not registered) and whose
// passes are cut off after passTimeout (0: no limit beyond the context's).
//
// passTimeout is the pass's total deadline: every request, retry and wait of the sources'
// clients lives inside it (a wait that would end past it, such as a Retry-After of hours, ends
// the pass at once instead), so a pass against a hostile or stuck source ends within it. Give
// it a value that leaves the process time to record and push its outcome before anything
// outside kills it (a CronJob's activeDeadlineSeconds).
func NewRunner(log logrus.FieldLogger, reg prometheus.Registerer, passTimeout time.Duration) (*Runner, error) {
	log = OrDiscard(log)
	r := &Runner{
		log: log,
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hashatlas_collector_last_run_duration_seconds", Help: "Duration of the last collector pass.",
		}, []string{"collector"}),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hashatlas_collector_last_run_success", Help: "1 if the last collector pass succeeded, else 0.",
		}, []string{"collector"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hashatlas_collector_last_success_timestamp_seconds", Help: "Unix time of the last successful collector pass.",
		}, []string{"collector"}),
		runsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hashatlas_collector_runs_total", Help: "Collector passes by result (success, error).",
		}, []string{"collector", "result"}),
		now:         time.Now,
		passTimeout: passTimeout,
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{r.duration, r.success, r.lastSuccess, r.runsTotal} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register collector metrics: %w", err)
			}
		}
	}
	return r, nil
}

// RunOnce does one pass of c and records its outcome. It returns the pass's error; one that the
// pass deadline cut short says so, naming the setting.
func (r *Runner) RunOnce(ctx context.Context, c Collector) error {
	passCtx := ctx
	if r.passTimeout > 0 {
		var cancel context.CancelFunc
		passCtx, cancel = context.WithTimeout(ctx, r.passTimeout)
		defer cancel()
	}
	log := r.log.WithField("collector", c.Name())
	start := r.now()
	err := collectRecovering(passCtx, c)
	if err != nil && r.passTimeout > 0 && ctx.Err() == nil && errors.Is(passCtx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("pass deadline of %v reached (%s): %w", r.passTimeout, PassTimeoutSetting, err)
	}
	d := r.now().Sub(start)
	r.duration.WithLabelValues(c.Name()).Set(d.Seconds())
	if err != nil {
		r.success.WithLabelValues(c.Name()).Set(0)
		r.runsTotal.WithLabelValues(c.Name(), "error").Inc()
		log.WithFields(logrus.Fields{"duration_seconds": d.Seconds(), "err": err}).Error("collector pass failed")
		return fmt.Errorf("collector %s: %w", c.Name(), err)
	}
	r.success.WithLabelValues(c.Name()).Set(1)
	r.lastSuccess.WithLabelValues(c.Name()).Set(float64(r.now().Unix()))
	r.runsTotal.WithLabelValues(c.Name(), "success").Inc()
	log.WithField("duration_seconds", d.Seconds()).Info("collector pass done")
	return nil
}

// collectRecovering runs one pass, turning a panic into an error so that it is counted and
// logged like any failed pass.
func collectRecovering(ctx context.Context, c Collector) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.Collect(ctx)
}

// ParseSchedule checks a cron spec (five fields, or descriptors such as @every 10m / @hourly),
// interpreted in UTC.
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("cron schedule %q: %w", spec, err)
	}
	return s, nil
}

// Schedule runs a pass of c on every tick of spec (UTC) until ctx is cancelled, then waits for
// a running pass to finish. A pass that is still running at the next tick makes that tick be
// skipped; a pass that panics is recovered (by RunOnce) and counted as failed. A failed pass is logged and the
// schedule goes on; Schedule returns nil when ctx ends, or an error if spec is invalid.
func (r *Runner) Schedule(ctx context.Context, spec string, c Collector) error {
	sched, err := ParseSchedule(spec)
	if err != nil {
		return err
	}
	clog := cronLogger{r.log.WithField("collector", c.Name())}
	cr := cron.New(cron.WithLocation(time.UTC), cron.WithLogger(clog),
		cron.WithChain(cron.Recover(clog), cron.SkipIfStillRunning(clog)))
	var wg sync.WaitGroup
	cr.Schedule(sched, cron.FuncJob(func() {
		wg.Add(1)
		defer wg.Done()
		if ctx.Err() != nil {
			return
		}
		_ = r.RunOnce(ctx, c) // logged and counted by RunOnce
	}))
	cr.Start()
	r.log.WithFields(logrus.Fields{"collector": c.Name(), "schedule": spec}).Info("collector scheduled")
	<-ctx.Done()
	<-cr.Stop().Done()
	wg.Wait()
	return nil
}

// cronLogger adapts logrus to cron.Logger.
type cronLogger struct{ log logrus.FieldLogger }

func (l cronLogger) Info(msg string, kv ...interface{}) {
	l.log.WithFields(kvFields(kv)).Debug("cron " + msg)
}

func (l cronLogger) Error(err error, msg string, kv ...interface{}) {
	l.log.WithFields(kvFields(kv)).WithField("err", err).Error("cron " + msg)
}

func kvFields(kv []interface{}) logrus.Fields {
	f := logrus.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return f
}
