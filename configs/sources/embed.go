// Package sources holds the default source mappings: one YAML file per kind
// of source system, mapping its raw records to canonical events (see
// pipeline/source). They are embedded so that the binary runs with them when
// no sources directory is configured (e.g. omnistitch demo).
package sources

import "embed"

// FS holds every *.yaml file of this directory.
//
//go:embed *.yaml
var FS embed.FS
