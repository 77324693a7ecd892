// Package packaging holds what Postern's Linux packages are made of (nfpm
// configurations, systemd units, maintainer scripts, the default
// configuration, the macOS launchd file) and the tests of what ships:
// release builds (scripts/release) reproducible and stamped, the packages
// built with scripts/package and installed (upgraded and removed, they
// keep data and configuration), the container image's build steps.
//
// The agent's service files are also what the one-line node install
// (package nodeinstall) writes on a node, so they are embedded here: one
// unit, whichever way the agent was installed.
package packaging

import _ "embed" // the agent's service files

// AgentUnit is postern-agent.service as the postern-agent package installs
// it: the agent at /usr/bin/postern-agent, its identity in
// /var/lib/postern-agent.
//
//go:embed postern-agent.service
var AgentUnit string

// AgentLaunchd is the agent's launchd property list for macOS: the agent at
// /usr/local/bin/postern-agent, its identity in /var/lib/postern-agent.
//
//go:embed darwin/com.postern.agent.plist
var AgentLaunchd string
