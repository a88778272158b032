//go:build linux && cgo

package main

// Built with cgo, Pebble keeps its block cache and memtables in C memory.
// glibc gives each thread that allocates an arena of its own (up to eight
// per core), and the block cache's steady turnover of blocks of every
// size, spread over them, left ~250 MiB of free but unreturned memory in
// the process at 1,000,000 customers (peak RSS 1,054 MiB against 805 MiB
// with two arenas, at the same speed; bench/RESULTS.md, "Scaling"). So
// malloc is capped at two arenas, unless MALLOC_ARENA_MAX says otherwise,
// in a constructor: it runs when the program is loaded, before the Go
// runtime starts threads that could each take an arena. (Other C
// libraries than glibc: nothing.)

/*
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

__attribute__((constructor)) static void omnistitch_limit_malloc_arenas(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	if (getenv("MALLOC_ARENA_MAX") == NULL) {
		mallopt(M_ARENA_MAX, 2);
	}
#endif
}
*/
import "C"
