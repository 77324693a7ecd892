// Command postern-agent is the node agent alone: register the node, then
// run the agent that dials out to the server and serves sessions. It is
// what nodes install; it links none of the server (see deps_test.go), so
// it starts light and stays small.
package main

import (
	"github.com/postern/postern/agent"
	"github.com/postern/postern/agentcli"
	"github.com/postern/postern/cli"
	"github.com/postern/postern/shell"
)

func main() {
	shell.ServeConsoleChild() // on Windows, a session's go-between
	cli.Main(cli.Root(agentcli.New("postern-agent", "Postern's node agent: register this node, then run the agent"), agent.Version, agent.BuildCommit()))
}
