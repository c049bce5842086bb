package kafka

import (
	"io"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/sirupsen/logrus"
)

// orDiscard returns log, or a logger that writes nothing when log is nil.
func orDiscard(log logrus.FieldLogger) logrus.FieldLogger {
	if log != nil {
		return log
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.PanicLevel)
	return l
}

// kafkaGoLogger adapts a logrus logger to kafka-go's Logger at the given level. kafka-go's own
// lines are free text; they are tagged component=kafka-go so they can be told apart.
func kafkaGoLogger(log logrus.FieldLogger, level logrus.Level) kafkago.LoggerFunc {
	l := log.WithField("component", "kafka-go")
	return func(format string, args ...any) {
		format = strings.TrimSuffix(format, "\n")
		switch level {
		case logrus.WarnLevel:
			l.Warnf(format, args...)
		case logrus.InfoLevel:
			l.Infof(format, args...)
		default:
			l.Debugf(format, args...)
		}
	}
}
