//go:build !race

package stitch_test

const raceEnabled = false
