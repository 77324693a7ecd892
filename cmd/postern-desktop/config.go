package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxConfigLine bounds the config line; a real one is a few hundred bytes.
const maxConfigLine = 16 << 10

// Config is the connection's configuration, the first line on stdin. The
// password travels only here, never in argv or the environment, and is
// never logged.
type Config struct {
	Address               string `json:"address"` // host:port, or a Unix socket's path starting with '/'
	Username              string `json:"username"`
	Password              string `json:"password"`
	Domain                string `json:"domain"`
	Security              string `json:"security"` // any, nla, tls or rdp
	Width                 int    `json:"width"`
	Height                int    `json:"height"`
	DPI                   int    `json:"dpi"`
	ConnectTimeoutSeconds int    `json:"connectTimeoutSeconds"`
}

// Bounds of what a config may ask for. RDP's desktop size is at most
// 8192x8192 (MS-RDPBCGR's TS_UD_CS_CORE allows more, servers do not); a
// Unix socket's path fits sockaddr_un's 108 bytes with its NUL.
const (
	minSide, maxSide     = 200, 8192
	minDPI, maxDPI       = 48, 480
	maxConnectTimeout    = 300
	defaultWidth         = 1024
	defaultHeight        = 768
	defaultDPI           = 96
	defaultConnectTimout = 15
	maxUnixPath          = 107
)

// readConfigLine reads the first line, at most maxConfigLine bytes, so a
// peer that never sends a newline cannot grow memory.
func readConfigLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxConfigLine {
		return nil, fmt.Errorf("config line longer than %d bytes", maxConfigLine)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the config line: %w", err)
	}
	return bytes.Clone(line), nil
}

// parseConfig decodes and checks the config line, filling in defaults.
// Errors never quote the password.
func parseConfig(line []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("config: more than one JSON value on the line")
	}
	if c.Address == "" {
		return Config{}, errors.New("config: address is empty")
	}
	if strings.HasPrefix(c.Address, "/") {
		if len(c.Address) > maxUnixPath {
			return Config{}, fmt.Errorf("config: Unix socket path longer than %d bytes", maxUnixPath)
		}
	} else {
		host, port, err := net.SplitHostPort(c.Address)
		if err != nil {
			return Config{}, fmt.Errorf("config: address %q is neither host:port nor a Unix socket's path: %v", c.Address, err)
		}
		if host == "" {
			return Config{}, fmt.Errorf("config: address %q has no host", c.Address)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return Config{}, fmt.Errorf("config: address %q: port must be 1-65535", c.Address)
		}
	}
	if strings.ContainsRune(c.Address, 0) || strings.ContainsRune(c.Username, 0) ||
		strings.ContainsRune(c.Password, 0) || strings.ContainsRune(c.Domain, 0) {
		return Config{}, errors.New("config: address, username, password and domain may not contain NUL")
	}
	switch c.Security {
	case "":
		c.Security = "any"
	case "any", "nla", "tls", "rdp":
	default:
		return Config{}, fmt.Errorf("config: security %q is not any, nla, tls or rdp", c.Security)
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = defaultWidth, defaultHeight
	}
	if c.Width < minSide || c.Width > maxSide || c.Height < minSide || c.Height > maxSide {
		return Config{}, fmt.Errorf("config: size %dx%d outside %d-%d", c.Width, c.Height, minSide, maxSide)
	}
	if c.DPI == 0 {
		c.DPI = defaultDPI
	}
	if c.DPI < minDPI || c.DPI > maxDPI {
		return Config{}, fmt.Errorf("config: dpi %d outside %d-%d", c.DPI, minDPI, maxDPI)
	}
	if c.ConnectTimeoutSeconds == 0 {
		c.ConnectTimeoutSeconds = defaultConnectTimout
	}
	if c.ConnectTimeoutSeconds < 1 || c.ConnectTimeoutSeconds > maxConnectTimeout {
		return Config{}, fmt.Errorf("config: connectTimeoutSeconds %d outside 1-%d", c.ConnectTimeoutSeconds, maxConnectTimeout)
	}
	return c, nil
}
