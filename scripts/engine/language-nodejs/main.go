// Command pulumi-language-nodejs is the Node.js language host for machines that cannot fetch
// Pulumi's own: the Go module proxy here does not serve the upstream module
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3), so the engine would
// have no way to run a Node.js program. It implements the part of the LanguageRuntime protocol
// that `pulumi preview`, `up`, `refresh` and `destroy` use, and hands the program to the
// @pulumi/pulumi SDK's own runner (cmd/run), exactly as the upstream host does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set at build time to the engine version this host ships with.
var version = "0.0.0-dev"

// exitAfterReportedError is the SDK runner's exit code for "the error is already reported to the
// engine": the engine should stop without printing a second, less useful message.
const exitAfterReportedError = 32

func main() {
	// The engine passes its own gRPC address as the last argument, after any logging or tracing flags.
	var engineAddress string
	if len(os.Args) > 1 {
		engineAddress = os.Args[len(os.Args)-1]
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-language-nodejs: node is not on PATH")
		os.Exit(1)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, &nodeHost{nodeBin: nodeBin, engineAddress: engineAddress})
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of our stdout.
	fmt.Println(handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

type nodeHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	nodeBin       string
	engineAddress string
}

func (h *nodeHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPackages reports nothing on purpose: the engine would try to download every listed
// plugin before running the program, which fails without internet. Providers are instead loaded
// when the program first registers one of their resources, from the plugins on PATH.
func (h *nodeHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *nodeHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	if info == nil {
		return nil, errors.New("the engine sent no program info; this host needs Pulumi CLI 3.100 or newer")
	}
	options := info.GetOptions().AsMap()

	runner, err := findSDKRunner(info.GetProgramDirectory())
	if err != nil {
		return nil, err
	}
	configJSON, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("serializing config: %w", err)
	}
	secretKeysJSON, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, fmt.Errorf("serializing secret config keys: %w", err)
	}

	args := nodeArgs(options)
	args = append(args, runner)
	flag := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flag("monitor", req.GetMonitorAddress())
	flag("engine", h.engineAddress)
	flag("organization", req.GetOrganization())
	flag("project", req.GetProject())
	flag("stack", req.GetStack())
	flag("pwd", req.GetPwd())
	flag("root-directory", info.GetRootDirectory())
	flag("parallel", strconv.Itoa(int(req.GetParallel())))
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	args = append(args, filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint()))
	args = append(args, req.GetArgs()...)

	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON),
		"PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(typeScriptEnabled(options)),
	)
	if tsconfig, ok := options["tsconfig"].(string); ok && tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}

	cmd := exec.CommandContext(ctx, h.nodeBin, args...)
	cmd.Dir = req.GetPwd()
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() == exitAfterReportedError:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exitErr):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start node: %v", err)}, nil
	}
}

// findSDKRunner resolves @pulumi/pulumi's runner the way Node resolves a package: the nearest
// node_modules walking up from the program, so a program in a sub-directory of a workspace works.
func findSDKRunner(programDir string) (string, error) {
	for dir := programDir; ; dir = filepath.Dir(dir) {
		runner := filepath.Join(dir, "node_modules", "@pulumi", "pulumi", "cmd", "run")
		if _, err := os.Stat(filepath.Join(runner, "index.js")); err == nil {
			return runner, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("@pulumi/pulumi is not installed for %s: run npm install", programDir)
		}
	}
}

// typeScriptEnabled follows Pulumi.yaml's runtime.options.typescript, which defaults to true.
func typeScriptEnabled(options map[string]any) bool {
	enabled, ok := options["typescript"].(bool)
	return !ok || enabled
}

// nodeArgs takes runtime.options.nodeargs, a space-separated string as in the upstream host.
func nodeArgs(options map[string]any) []string {
	raw, _ := options["nodeargs"].(string)
	return strings.Fields(raw)
}
