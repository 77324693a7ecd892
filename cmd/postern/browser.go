package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// openBrowser shows the user a URL to visit: it prints it, then asks the
// desktop to open it ($BROWSER, else the platform's opener), unless
// POSTERN_NO_BROWSER is set (a remote shell, a test acting as the
// browser). Failing to open is not an error: the URL is on the screen.
func openBrowser(url string) error {
	return showURL("To sign in, open this URL in your browser", url)
}

// showURL prints what to do with url, then opens it as openBrowser does.
func showURL(what, url string) error {
	fmt.Fprintf(os.Stderr, "%s:\n  %s\n", what, url)
	if os.Getenv("POSTERN_NO_BROWSER") != "" {
		return nil
	}
	var cmd *exec.Cmd
	switch b := os.Getenv("BROWSER"); {
	case b != "":
		cmd = exec.Command(b, url)
	case runtime.GOOS == "darwin":
		cmd = exec.Command("open", url)
	case runtime.GOOS == "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err == nil {
		go cmd.Wait() // reap it; the browser outlives the wait for its callback
	}
	return nil
}
