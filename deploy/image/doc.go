// Package image holds the container image of hashatlas (Dockerfile beside this file). It has
// no Go code of its own: its tests check the Dockerfile offline, against the Makefile's plain
// build, and run the Dockerfile's build step without a container engine.
package image
