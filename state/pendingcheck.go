//go:build !race

package state

const checkPendingWrites = false
