package shell

import (
	"fmt"
	"os"
	"sync"
)

// stdinPipe is the write end of the command's standard input.
type stdinPipe struct {
	f    *os.File
	once sync.Once
	err  error
}

func (s *stdinPipe) Write(b []byte) (int, error) {
	n, err := s.f.Write(b)
	if err != nil {
		return n, fmt.Errorf("shell: write standard input: %w", err)
	}
	return n, nil
}

func (s *stdinPipe) Close() error {
	s.once.Do(func() { s.err = s.f.Close() })
	return s.err
}
