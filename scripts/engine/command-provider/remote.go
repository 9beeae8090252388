package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// envLoader is prepended to a remote script when it has an environment. sshd drops variables
// not listed in AcceptEnv, and putting them on the command line would show secrets in the
// host's process list, so they travel as the first line of stdin (base64 of `export` lines)
// and the shell reads exactly that line before the script, which keeps the rest of stdin.
const envLoader = `IFS= read -r megaweb_env || exit 97
eval "$(printf '%s' "$megaweb_env" | base64 -d)" || exit 97
unset megaweb_env
`

func runRemote(ctx context.Context, in commandInputs, script string, env map[string]string, show streams) (string, string, error) {
	client, err := dial(ctx, in.Connection)
	if err != nil {
		return "", "", err
	}
	defer client.Close()

	stdin := ""
	if in.Stdin != nil {
		stdin = *in.Stdin
	}
	if len(env) > 0 {
		script = envLoader + script
		stdin = base64.StdEncoding.EncodeToString([]byte(exports(env))) + "\n" + stdin
	}
	var stdout, stderr bytes.Buffer
	err = runSession(ctx, client, script, strings.NewReader(stdin), io.MultiWriter(&stdout, show.stdout), io.MultiWriter(&stderr, show.stderr))
	return finish(in.Logging, stdout.String(), stderr.String(), err)
}

// copyToRemote writes an asset to remotePath (into it, if it is a directory), or unpacks an
// archive into the directory remotePath: unlike upstream, which copies a directory into an
// existing remotePath as a sub-directory, so that copying again replaces files instead of nesting.
func copyToRemote(ctx context.Context, inputs resource.PropertyMap) error {
	in, err := decodeCommand(inputs)
	if err != nil {
		return err
	}
	remotePath := plain(inputs["remotePath"]).StringValue()
	client, err := dial(ctx, in.Connection)
	if err != nil {
		return err
	}
	defer client.Close()

	var stderr bytes.Buffer
	source := plain(inputs["source"])
	switch {
	case source.IsAsset():
		blob, err := source.AssetValue().Read()
		if err != nil {
			return fmt.Errorf("reading source: %w", err)
		}
		defer blob.Close()
		// As upstream: into an existing directory the file goes under its own name.
		target := shellQuote(remotePath)
		if name := path.Base(source.AssetValue().Path); source.AssetValue().IsPath() {
			target = fmt.Sprintf(`"$(if [ -d %s ]; then printf '%%s/%%s' %s %s; else printf '%%s' %s; fi)"`,
				target, target, shellQuote(name), target)
		}
		script := fmt.Sprintf("mkdir -p %s && cat > %s", shellQuote(path.Dir(remotePath)), target)
		err = runSession(ctx, client, script, blob, io.Discard, &stderr)
	case source.IsArchive():
		reader, writer := io.Pipe()
		go func() { writer.CloseWithError(source.ArchiveValue().Archive(archive.TarArchive, writer)) }()
		script := fmt.Sprintf("mkdir -p %s && tar -x -f - -C %s", shellQuote(remotePath), shellQuote(remotePath))
		err = runSession(ctx, client, script, reader, io.Discard, &stderr)
		reader.Close()
	default:
		return errors.New("source must be an asset or an archive")
	}
	if err != nil {
		return fmt.Errorf("copying to %s:%s: %w: %s", in.Connection.Host, remotePath, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func runSession(ctx context.Context, client *sshClient, script string, stdin io.Reader, stdout, stderr io.Writer) error {
	session, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("opening SSH session: %w", err)
	}
	defer session.Close()
	session.Stdin, session.Stdout, session.Stderr = stdin, stdout, stderr
	done := make(chan error, 1)
	go func() { done <- session.Run(script) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGTERM)
		return ctx.Err()
	}
}

// sshClient is a connection to a host, and to the proxy host it goes through if any.
type sshClient struct {
	*ssh.Client
	proxy *sshClient
}

func (c *sshClient) Close() error {
	err := c.Client.Close()
	if c.proxy != nil {
		c.proxy.Close()
	}
	return err
}

// dial connects, through the proxy host if one is given, retrying refused or timed-out dials up
// to dialErrorLimit times: a freshly created server often is not listening yet.
func dial(ctx context.Context, conn *connection) (*sshClient, error) {
	if conn == nil {
		return nil, errors.New("connection is required")
	}
	config, err := clientConfig(conn)
	if err != nil {
		return nil, err
	}
	address := net.JoinHostPort(conn.Host, strconv.Itoa(portOrDefault(conn.Port)))
	var proxy *sshClient
	if conn.Proxy != nil {
		if proxy, err = dial(ctx, conn.Proxy); err != nil {
			return nil, fmt.Errorf("proxy %s: %w", conn.Proxy.Host, err)
		}
	}
	limit := conn.DialErrorLimit
	if limit == 0 {
		limit = 10
	}
	for attempt := 1; ; attempt++ {
		client, err := dialOnce(proxy, address, config)
		if err == nil {
			return &sshClient{Client: client, proxy: proxy}, nil
		}
		if limit > 0 && attempt >= limit {
			if proxy != nil {
				proxy.Close()
			}
			return nil, fmt.Errorf("dialing %s failed after %d attempts: %w", address, attempt, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(min(attempt, 5)) * time.Second):
		}
	}
}

func dialOnce(proxy *sshClient, address string, config *ssh.ClientConfig) (*ssh.Client, error) {
	if proxy == nil {
		return ssh.Dial("tcp", address, config)
	}
	tunnel, err := proxy.Dial("tcp", address)
	if err != nil {
		return nil, err
	}
	c, chans, reqs, err := ssh.NewClientConn(tunnel, address, config)
	if err != nil {
		tunnel.Close()
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

func clientConfig(conn *connection) (*ssh.ClientConfig, error) {
	user := conn.User
	if user == "" {
		user = "root"
	}
	timeout := conn.PerDialTimeout
	if timeout == 0 {
		timeout = 15
	}
	var auth []ssh.AuthMethod
	if conn.PrivateKey != "" {
		var signer ssh.Signer
		var err error
		if conn.PrivateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(conn.PrivateKey), []byte(conn.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(conn.PrivateKey))
		}
		if err != nil {
			return nil, fmt.Errorf("connection.privateKey: %w", err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if conn.Password != "" {
		auth = append(auth, ssh.Password(conn.Password))
	}
	if socket := agentSocket(conn); socket != "" {
		if agentConn, err := net.Dial("unix", socket); err == nil {
			auth = append(auth, ssh.PublicKeysCallback(agent.NewClient(agentConn).Signers))
		}
	}
	if len(auth) == 0 {
		return nil, errors.New("connection needs privateKey, password or an SSH agent")
	}
	return &ssh.ClientConfig{
		User: user,
		Auth: auth,
		// Upstream 1.x does not verify host keys either: the servers are created in the same
		// run and their keys are not known beforehand.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         time.Duration(timeout) * time.Second,
	}, nil
}

func agentSocket(conn *connection) string {
	if conn.AgentSocketPath != "" {
		return conn.AgentSocketPath
	}
	return os.Getenv("SSH_AUTH_SOCK")
}

func portOrDefault(port int) int {
	if port == 0 {
		return 22
	}
	return port
}

// exports renders an environment as shell `export` lines in a stable order.
func exports(env map[string]string) string {
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "export %s=%s\n", name, shellQuote(env[name]))
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
