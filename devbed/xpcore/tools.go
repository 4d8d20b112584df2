//go:build tools

// Package tools pins what the test bed builds from this module: Crossplane
// core (cmd/crossplane) of one release.
package tools

import _ "github.com/crossplane/crossplane/v2/cmd/crossplane"
