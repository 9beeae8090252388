package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

func runLocal(ctx context.Context, in commandInputs, script string, env map[string]string, show streams) (string, string, error) {
	interpreter := in.Interpreter
	if len(interpreter) == 0 {
		interpreter = []string{"/bin/sh", "-c"}
	}
	cmd := exec.CommandContext(ctx, interpreter[0], append(interpreter[1:], script)...)
	cmd.Dir = in.Dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if in.Stdin != nil {
		cmd.Stdin = strings.NewReader(*in.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&stdout, show.stdout), io.MultiWriter(&stderr, show.stderr)
	err := cmd.Run()
	return finish(in.Logging, stdout.String(), stderr.String(), err)
}

// finish trims the one trailing newline, as upstream does, and words a failure with only the
// streams that the resource's logging option allows to be shown: a step that handles secrets
// sets logging "none", and its output must not reach the engine's log through an error either.
func finish(logging, stdout, stderr string, err error) (string, string, error) {
	stdout = strings.TrimSuffix(stdout, "\n")
	stderr = strings.TrimSuffix(stderr, "\n")
	if err == nil {
		return stdout, stderr, nil
	}
	msg := err.Error()
	if logging == "" || logging == "stdoutAndStderr" || logging == "stdout" {
		msg += fmt.Sprintf(": stdout: %s", stdout)
	}
	if logging == "" || logging == "stdoutAndStderr" || logging == "stderr" {
		msg += fmt.Sprintf(": stderr: %s", stderr)
	}
	return "", "", fmt.Errorf("%s", msg)
}
