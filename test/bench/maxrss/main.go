// Command maxrss runs a command and prints its peak resident memory.
//
// A child's peak RSS as Linux reports it to its parent counts the parent's own
// memory at the fork, since Go starts children with vfork. A benchmark that
// holds hundreds of MiB cannot read the peak of a small command directly; it
// runs the command through this small program, whose own few MiB are the
// floor of the figure. The peak, in KiB, is the last line on standard error:
//
//	maxrss-kib 51234
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: maxrss <command> [args]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "maxrss:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "maxrss-kib %d\n", cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	os.Exit(cmd.ProcessState.ExitCode())
}
