// Package chaos holds the crash and outage tests of the service (issue 7):
// the omnistitch binary is built, run as a subprocess against a Kafka
// protocol broker in the test process and a real ClickHouse, killed with
// SIGKILL at random instants, copied mid-run like a power cut leaves its
// disk, cut off from the broker and from ClickHouse, and starved of disk
// space; each time the ClickHouse views, the trigger topic and the dead
// letters must end exactly as `omnistitch stitch` reports for the same
// events. The package has only tests.
//
// The short form runs in `go test` (and CI). `make chaos` runs the long one:
// OMNISTITCH_CHAOS=long, more events, more kills, a minute-long ClickHouse
// outage. OMNISTITCH_CHAOS_SEED replays a run's random choices (each test
// logs its seed).
package chaos
