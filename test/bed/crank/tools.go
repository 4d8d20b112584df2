//go:build tools

// Package tools pins the crossplane CLI (cmd/crank) as a dependency of this module.
package tools

import _ "github.com/crossplane/crossplane/v2/cmd/crank"
