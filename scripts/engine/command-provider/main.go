// Command pulumi-resource-command serves the resource contract of @pulumi/command 1.x
// (command:local:Command, command:local:run, command:remote:Command, command:remote:CopyToRemote)
// on machines that cannot fetch the upstream provider: the Go module proxy here serves no
// version of github.com/pulumi/pulumi-command/provider and GitHub releases are out of reach.
// Property names, defaults and the create/update/delete semantics follow the @pulumi/command
// SDK in node_modules, so programs and their state are the same as with the upstream plugin.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is the @pulumi/command release whose contract this provider serves; it is what the
// engine records in state, so a stack can later move to the upstream plugin of that version.
var version = "1.2.1"

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return plugin.NewProviderServer(&commandProvider{host: host}), nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}
