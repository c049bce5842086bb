//go:build chdb

package main

// haveEmbeddedEngine: this test binary is linked with the embedded ClickHouse engine.
const haveEmbeddedEngine = true
