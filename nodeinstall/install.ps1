# Postern's node installer for Windows, served by a Postern server at
# /install.ps1 (the same bytes to everyone, until its builds change). It
# downloads the server's Windows agent build, checks it
# against the SHA-256 the server wrote below, and runs its install:
# register this node with an activation (and the CA pin), copy the agent
# to Program Files, install and start the postern-agent service. With
# -Upgrade it runs the build's upgrade instead: the service's agent is
# replaced and restarted, the previous one put back if the new one does
# not start. `postern activations create` prints the command that runs it
# (in PowerShell, as an administrator), which checks this script's own
# SHA-256 first: nothing from the server runs before it matched, and this
# script vouches for the build in turn.
#
# Nothing is installed before the build is downloaded and checked and the
# node registered: a wrong pin, an expired activation or a server out of
# reach stops it with the reason, and the machine is as it was.
param(
  [string]$Code,
  [string]$Id,
  [string]$CaPin,
  [string]$Server,
  [string]$Name,
  [string[]]$Tag,
  [string]$Dir,
  [string]$Shell,
  [switch]$Upgrade
)
$ErrorActionPreference = 'Stop'

# The build this server offered when it served this script.
$build = {{quote .File}}
$sha256 = {{quote .SHA256}}

function Fail([string]$why) { throw "postern install: $why" }

if (-not $build) {
  Fail 'this server offers no Windows agent build (its agentDownloads has no postern-agent-VERSION-windows-amd64.exe): nothing was installed'
}
if (-not $Server) { Fail '-Server https://HOST:PORT is needed (postern activations create prints it): nothing was installed' }
if (-not $Upgrade -and (-not $Code -or -not $Id)) {
  Fail '-Code and -Id are needed (postern activations create prints them): nothing was installed'
}
$exe = Join-Path $env:TEMP ('postern-agent-' + [guid]::NewGuid().ToString('N') + '.exe')
try {
  & curl.exe -fsSk -o $exe ($Server.TrimEnd('/') + {{quote .AgentPath}} + $build)
  if ($LASTEXITCODE -ne 0) {
    Fail "could not download $build from $Server (curl.exe exit code $LASTEXITCODE): nothing was installed"
  }
  if ((Get-FileHash -Algorithm SHA256 $exe).Hash -ne $sha256) {
    Fail "$build does not match the SHA-256 this script holds: nothing was installed"
  }
  if ($Upgrade) {
    & $exe upgrade
  } else {
    $a = @('install', '--server', $Server, '--code', $Code, '--id', $Id)
    if ($CaPin) { $a += @('--ca-pin', $CaPin) }
    if ($Name) { $a += @('--name', $Name) }
    foreach ($t in $Tag) { $a += @('--tag', $t) }
    if ($Dir) { $a += @('--dir', $Dir) }
    if ($Shell) { $a += @('--shell', $Shell) }
    & $exe @a
  }
  if ($LASTEXITCODE -ne 0) { Fail "postern-agent.exe stopped with exit code $LASTEXITCODE, for the reason it gave above" }
} finally {
  Remove-Item -Force -ErrorAction SilentlyContinue $exe
}
