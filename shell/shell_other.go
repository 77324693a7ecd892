//go:build !linux && !darwin && !windows

package shell

import (
	"context"
	"errors"
	"io"
	"os"
)

// Process is a program running in a pseudo-terminal. On this platform
// Start always fails, so there are none.
type Process struct{}

// Start fails with ErrUnsupported on this platform.
func Start(ctx context.Context, s Spec) (*Process, error) { return nil, ErrUnsupported }

func (p *Process) Read(b []byte) (int, error)         { return 0, ErrUnsupported }
func (p *Process) Write(b []byte) (int, error)        { return 0, ErrUnsupported }
func (p *Process) ReadBuffered(b []byte) (int, error) { return 0, ErrUnsupported }
func (p *Process) Resize(cols, rows uint16) error     { return ErrUnsupported }
func (p *Process) Echo() bool                         { return false }
func (p *Process) Modes() (echo, canonical bool, err error) {
	return false, false, ErrUnsupported
}
func (p *Process) Wait() (exitCode int, err error) { return -1, ErrUnsupported }
func (p *Process) Signal(sig os.Signal) error      { return ErrUnsupported }
func (p *Process) Close() error                    { return nil }
func (p *Process) Pid() int                        { return -1 }

// PipeProcess is a program running without a terminal. On this platform
// StartPipes always fails, so there are none.
type PipeProcess struct {
	Stdin          io.WriteCloser
	Stdout, Stderr io.Reader
}

// StartPipes fails with ErrUnsupported on this platform.
func StartPipes(ctx context.Context, s Spec) (*PipeProcess, error) { return nil, ErrUnsupported }

func (p *PipeProcess) Wait() (exitCode int, err error) { return -1, ErrUnsupported }
func (p *PipeProcess) Signal(sig os.Signal) error      { return ErrUnsupported }
func (p *PipeProcess) Close() error                    { return nil }
func (p *PipeProcess) Pid() int                        { return -1 }

const canCreateUsers = false

func createUser(ctx context.Context, name string) error { return errors.ErrUnsupported }
