// Package estimate is the hashatlas model: pure functions that turn blocks, difficulty and
// pool attributions into hashrate estimates with 95 % intervals (the method of MODEL.md), and
// later the estimator service loop. It imports neither Kafka, ClickHouse nor the network.
package estimate
