//go:build tools

// Package tools pins actionlint, the linter for .github/workflows, as a module dependency so
// scripts/setup/30-engine.sh can build it from the Go module proxy at this exact version.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
