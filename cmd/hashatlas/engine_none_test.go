//go:build !chdb

package main

// haveEmbeddedEngine: this test binary is built without the embedded ClickHouse engine.
const haveEmbeddedEngine = false
