package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
)

const (
	localCommandType  = tokens.Type("command:local:Command")
	remoteCommandType = tokens.Type("command:remote:Command")
	copyToRemoteType  = tokens.Type("command:remote:CopyToRemote")
	localRunFunction  = tokens.ModuleMember("command:local:run")
)

type commandProvider struct {
	plugin.UnimplementedProvider
	host *provider.HostClient
}

func (p *commandProvider) Close() error { return nil }

func (p *commandProvider) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v := semver.MustParse(version)
	return plugin.PluginInfo{Version: &v}, nil
}

func (p *commandProvider) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	schema, err := json.Marshal(map[string]string{"name": "command", "version": version})
	return plugin.GetSchemaResponse{Schema: schema}, err
}

func (p *commandProvider) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *commandProvider) DiffConfig(context.Context, plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

func (p *commandProvider) Configure(context.Context, plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	return plugin.ConfigureResponse{}, nil
}

// Check rejects what this provider would otherwise only discover half-way through an update.
func (p *commandProvider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	var failures []plugin.CheckFailure
	fail := func(property, reason string) {
		failures = append(failures, plugin.CheckFailure{Property: resource.PropertyKey(property), Reason: reason})
	}
	news := req.News
	switch req.Type {
	case localCommandType:
		for _, key := range []resource.PropertyKey{"assetPaths", "archivePaths"} {
			if v, ok := news[key]; ok && !v.IsNull() {
				fail(string(key), string(key)+" is not supported by this build of pulumi-resource-command")
			}
		}
	case remoteCommandType, copyToRemoteType:
		switch conn := plain(news["connection"]); {
		case conn.IsNull():
			fail("connection", "connection is required")
		case !conn.IsObject():
			fail("connection", "connection must be an object with a host")
		case !conn.ContainsUnknowns():
			if host := conn.ObjectValue()["host"]; !host.IsString() || host.StringValue() == "" {
				fail("connection.host", "connection.host is required")
			}
		}
		if req.Type == copyToRemoteType {
			if src, ok := news["source"]; !ok || !(src.IsAsset() || src.IsArchive() || src.ContainsUnknowns()) {
				fail("source", "source must be an asset or an archive")
			}
			if dst, ok := news["remotePath"]; !ok || dst.IsNull() {
				fail("remotePath", "remotePath is required")
			}
		}
	default:
		return plugin.CheckResponse{}, fmt.Errorf("unknown resource type %q", req.Type)
	}
	return plugin.CheckResponse{Properties: news, Failures: failures}, nil
}

// Diff follows the upstream contract: a change to triggers replaces the resource (the SDK also
// asks for that with replaceOnChanges); any other input change runs the update command.
func (p *commandProvider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	diff := req.OldInputs.Diff(req.NewInputs)
	if diff == nil || !diff.AnyChanges() {
		return plugin.DiffResult{Changes: plugin.DiffNone}, nil
	}
	detailed := plugin.NewDetailedDiffFromObjectDiff(diff, true)
	var replaceKeys []resource.PropertyKey
	for path, change := range detailed {
		if path == "triggers" || strings.HasPrefix(path, "triggers[") {
			detailed[path] = change.ToReplace()
			replaceKeys = []resource.PropertyKey{"triggers"}
		}
	}
	return plugin.DiffResult{
		Changes:      plugin.DiffSome,
		ChangedKeys:  diff.ChangedKeys(),
		ReplaceKeys:  replaceKeys,
		DetailedDiff: detailed,
	}, nil
}

func (p *commandProvider) Create(ctx context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	if req.Preview {
		return plugin.CreateResponse{Properties: previewOutputs(req.Type, req.Properties)}, nil
	}
	outputs, err := apply(ctx, req.Type, req.Properties, nil, "create", p.progress(ctx, req.URN, req.Properties))
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: resource.ID(newID(req.Name)), Properties: outputs}, nil
}

func (p *commandProvider) Update(ctx context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	if req.Preview {
		return plugin.UpdateResponse{Properties: previewOutputs(req.Type, req.NewInputs)}, nil
	}
	outputs, err := apply(ctx, req.Type, req.NewInputs, req.OldOutputs, "update", p.progress(ctx, req.URN, req.NewInputs))
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	return plugin.UpdateResponse{Properties: outputs}, nil
}

func (p *commandProvider) Delete(ctx context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	if req.Type == copyToRemoteType {
		// Like upstream, copied files stay on the host: removing them is the job of a delete command.
		return plugin.DeleteResponse{}, nil
	}
	in, err := decodeCommand(req.Inputs)
	if err != nil || in.Delete == nil {
		return plugin.DeleteResponse{}, err
	}
	_, _, err = runCommand(ctx, req.Type, in, *in.Delete, commandEnvironment(in, req.Outputs), p.progress(ctx, req.URN, req.Inputs))
	return plugin.DeleteResponse{}, err
}

// Read keeps the recorded state: a command's effect cannot be read back, so a refresh reports no
// drift for it, as with the upstream provider.
func (p *commandProvider) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID, Inputs: req.Inputs, Outputs: req.State}}, nil
}

func (p *commandProvider) Invoke(ctx context.Context, req plugin.InvokeRequest) (plugin.InvokeResponse, error) {
	if req.Tok != localRunFunction {
		return plugin.InvokeResponse{}, fmt.Errorf("unknown function %q", req.Tok)
	}
	in, err := decodeCommand(req.Args)
	if err != nil {
		return plugin.InvokeResponse{}, err
	}
	var script string
	if v := req.Args["command"]; v.IsString() {
		script = v.StringValue()
	}
	stdout, stderr, err := runCommand(ctx, localCommandType, in, script, commandEnvironment(in, nil), hidden)
	if err != nil {
		return plugin.InvokeResponse{}, err
	}
	outputs := req.Args.Copy()
	outputs["stdout"] = resource.NewStringProperty(stdout)
	outputs["stderr"] = resource.NewStringProperty(stderr)
	return plugin.InvokeResponse{Properties: outputs}, nil
}

// apply runs the create (or update) step of a resource and returns its new outputs.
func apply(
	ctx context.Context, typ tokens.Type, inputs, oldOutputs resource.PropertyMap, step string, show streams,
) (resource.PropertyMap, error) {
	outputs := inputs.Copy()
	if typ == copyToRemoteType {
		return outputs, copyToRemote(ctx, inputs)
	}
	in, err := decodeCommand(inputs)
	if err != nil {
		return nil, err
	}
	script := in.Create
	if step == "update" && in.Update != nil {
		script = in.Update
	}
	var stdout, stderr string
	if script != nil {
		if stdout, stderr, err = runCommand(ctx, typ, in, *script, commandEnvironment(in, oldOutputs), show); err != nil {
			return nil, err
		}
	}
	outputs["stdout"] = resource.NewStringProperty(stdout)
	outputs["stderr"] = resource.NewStringProperty(stderr)
	return outputs, nil
}

func runCommand(
	ctx context.Context, typ tokens.Type, in commandInputs, script string, env map[string]string, show streams,
) (string, string, error) {
	if typ == remoteCommandType {
		return runRemote(ctx, in, script, env, show)
	}
	return runLocal(ctx, in, script, env, show)
}

// streams are where a running command's stdout and stderr are shown, besides being captured.
type streams struct{ stdout, stderr io.Writer }

var hidden = streams{io.Discard, io.Discard}

// progress shows a running command's output line by line in the Info column of the engine's
// progress display, as upstream does, for the streams its logging option allows: provisioning
// steps run for minutes, and the lines are not kept in the final output.
func (p *commandProvider) progress(ctx context.Context, urn resource.URN, inputs resource.PropertyMap) streams {
	logging := "stdoutAndStderr"
	if v := plain(inputs["logging"]); v.IsString() && v.StringValue() != "" {
		logging = v.StringValue()
	}
	show := hidden
	if logging == "stdout" || logging == "stdoutAndStderr" {
		show.stdout = &statusLines{ctx: ctx, host: p.host, urn: urn}
	}
	if logging == "stderr" || logging == "stdoutAndStderr" {
		show.stderr = &statusLines{ctx: ctx, host: p.host, urn: urn}
	}
	return show
}

// statusLines sends each complete line written to it as a status message of one resource.
type statusLines struct {
	ctx     context.Context
	host    *provider.HostClient
	urn     resource.URN
	partial []byte
}

func (s *statusLines) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		end := bytes.IndexByte(s.partial, '\n')
		if end < 0 {
			return len(p), nil
		}
		if line := strings.TrimRight(string(s.partial[:end]), "\r"); line != "" {
			// A lost status line only thins the progress display; the command goes on.
			_ = s.host.LogStatus(s.ctx, diag.Info, s.urn, line)
		}
		s.partial = s.partial[end+1:]
	}
}

func previewOutputs(typ tokens.Type, inputs resource.PropertyMap) resource.PropertyMap {
	outputs := inputs.Copy()
	if typ != copyToRemoteType {
		outputs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outputs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	}
	return outputs
}

// commandEnvironment is the command's own environment plus, for update and delete, the previous
// outputs as upstream exports them, so a delete can undo exactly what create reported.
func commandEnvironment(in commandInputs, oldOutputs resource.PropertyMap) map[string]string {
	env := map[string]string{}
	for k, v := range in.Environment {
		env[k] = v
	}
	if oldOutputs == nil || (in.AddPreviousOutputInEnv != nil && !*in.AddPreviousOutputInEnv) {
		return env
	}
	for key, name := range map[resource.PropertyKey]string{"stdout": "PULUMI_COMMAND_STDOUT", "stderr": "PULUMI_COMMAND_STDERR"} {
		if v := plain(oldOutputs[key]); v.IsString() {
			env[name] = v.StringValue()
		}
	}
	return env
}

func newID(name string) string {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return name + hex.EncodeToString(suffix)
}

// commandInputs are the inputs shared by local and remote commands.
type commandInputs struct {
	Create                 *string           `json:"create"`
	Update                 *string           `json:"update"`
	Delete                 *string           `json:"delete"`
	Stdin                  *string           `json:"stdin"`
	Environment            map[string]string `json:"environment"`
	AddPreviousOutputInEnv *bool             `json:"addPreviousOutputInEnv"`
	Logging                string            `json:"logging"`
	Dir                    string            `json:"dir"`
	Interpreter            []string          `json:"interpreter"`
	Connection             *connection       `json:"connection"`
}

// connection mirrors the SDK's remote.Connection; the SDK fills port, dialErrorLimit and perDialTimeout.
type connection struct {
	Host               string      `json:"host"`
	Port               int         `json:"port"`
	User               string      `json:"user"`
	Password           string      `json:"password"`
	PrivateKey         string      `json:"privateKey"`
	PrivateKeyPassword string      `json:"privateKeyPassword"`
	AgentSocketPath    string      `json:"agentSocketPath"`
	DialErrorLimit     int         `json:"dialErrorLimit"`
	PerDialTimeout     int         `json:"perDialTimeout"`
	Proxy              *connection `json:"proxy"`
}

func decodeCommand(props resource.PropertyMap) (commandInputs, error) {
	var in commandInputs
	raw, err := json.Marshal(plain(resource.NewObjectProperty(props)).Mappable())
	if err == nil {
		err = json.Unmarshal(raw, &in)
	}
	if err != nil {
		return in, fmt.Errorf("decoding command inputs: %w", err)
	}
	return in, nil
}

// plain strips secret and output wrappers: the provider needs the values to run the command,
// while the wrappers stay on the inputs it returns as outputs.
func plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsOutput():
		return plain(v.OutputValue().Element)
	case v.IsArray():
		elems := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			elems[i] = plain(e)
		}
		return resource.NewArrayProperty(elems)
	case v.IsObject():
		obj := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			obj[k] = plain(e)
		}
		return resource.NewObjectProperty(obj)
	}
	return v
}
