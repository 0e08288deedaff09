// Package suite pins HashiCorp's github.com/hashicorp/consul/api module so that its own tests can be
// compiled from this module with `go test -c github.com/hashicorp/consul/api` (see build.sh).
package suite

import _ "github.com/hashicorp/consul/api"
