package main

import (
	"context"
	"os/exec"
)

func execInNamespace(ctx context.Context, ns string, argv []string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...)
}
