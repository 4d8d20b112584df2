//go:build tools

// Package tools pins what the test bed builds from this module: the crossplane
// CLI (cmd/crank) and Crossplane core (cmd/crossplane) of one release, and the
// OCI registry of go-containerregistry that packages are pushed to and pulled
// from.
package tools

import (
	_ "github.com/crossplane/crossplane/v2/cmd/crank"
	_ "github.com/crossplane/crossplane/v2/cmd/crossplane"
	_ "github.com/google/go-containerregistry/pkg/registry"
)
