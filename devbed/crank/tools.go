//go:build tools

// Package tools pins what the test bed builds from this module: the crossplane
// CLI (cmd/crank; Crossplane core is devbed/xpcore's) and the OCI registry of
// go-containerregistry that packages are pushed to and pulled from.
package tools

import (
	_ "github.com/crossplane/crossplane/v2/cmd/crank"
	_ "github.com/google/go-containerregistry/pkg/registry"
)
