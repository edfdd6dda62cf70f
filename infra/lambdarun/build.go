package lambdarun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Build compiles the main package in pkgDir into outDir/bootstrap for the
// host's GOOS and GOARCH (RIE runs it natively), with the flags the Makefile
// uses for Lambda, and returns the binary's path.
func Build(ctx context.Context, pkgDir, outDir string) (string, error) {
	out, err := filepath.Abs(filepath.Join(outDir, "bootstrap"))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkgDir, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkgDir, err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkgDir, err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build",
		"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-o", out, ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkgDir, err, bytes.TrimSpace(output.Bytes()))
	}
	return out, nil
}
