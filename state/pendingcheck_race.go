//go:build race

package state

// checkPendingWrites: the tests run with the race detector, so every test
// that commits a customer also checks that its Pending list was changed
// only through the methods that mark it for writing.
const checkPendingWrites = true
