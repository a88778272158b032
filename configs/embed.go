// Package configs holds the default configuration files that users copy and
// edit. They are embedded so that the binary runs with its defaults when no
// file is given (e.g. omnistitch demo) and so that internal/config can fill in
// every field a user's file leaves out.
package configs

import "embed"

// FS holds omnistitch.yaml and identity.yaml. The files are named rather than
// globbed so that other YAML files added to this directory (sources, rules)
// are neither embedded by accident nor able to break this build.
//
//go:embed omnistitch.yaml identity.yaml
var FS embed.FS

// RulesFS holds rules.yaml and segments.yaml, the default trigger rules and
// segments (package stitch/rules). They are separate from FS because they
// are loaded separately and replaced as a whole, not merged field by field.
//
//go:embed rules.yaml segments.yaml
var RulesFS embed.FS
