//go:build !linux

package miniotest

import (
	"os"
	"os/exec"
)

var sigterm = os.Interrupt

func setProcAttr(cmd *exec.Cmd) {}
