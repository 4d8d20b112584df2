//go:build tools

// Package tools pins toxiproxy's server (cmd/server) as a dependency of this
// module: the Kafka harness puts it on every cross-cluster path to add latency
// (tc netem is not available on the machines this project is tested on).
package tools

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
