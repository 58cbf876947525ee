package devserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// PortInUseError reports that a port the server needs is taken by another process.
// Start returns it before starting anything.
type PortInUseError struct {
	// Port is the port that is in use.
	Port int
	// Flag is the `meshflow dev` flag that chooses another port.
	Flag string
	// Err is the error of the failed listen.
	Err error
}

// Error says which port is taken and what to do about it.
func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d is in use (is another `meshflow dev` or Temporal server running?); pass %s or stop it",
		e.Port, e.Flag)
}

// Unwrap returns the error of the failed listen.
func (e *PortInUseError) Unwrap() error { return e.Err }

// listen opens a TCP listener on host:port, where port 0 picks a free port. A port
// taken by another process gives a *PortInUseError that names flag.
func listen(host string, port int, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, &PortInUseError{Port: port, Flag: flag, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s port %d: %w", host, port, err)
	}
	return ln, nil
}

// freePort returns a port on host that was free a moment ago. The Temporal
// services open their own listeners, so the port can only be released and handed
// over; the operating system does not hand out a just-released ephemeral port again
// soon, which makes the gap harmless in practice.
func freePort(host string) (int, error) {
	ln, err := listen(host, 0, "")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, fmt.Errorf("release port %d: %w", port, err)
	}
	return port, nil
}

// dialHost returns the address clients use to reach a listener on host: an
// unspecified address such as 0.0.0.0 is reached through the loopback interface.
func dialHost(host string) string {
	ip := net.ParseIP(host)
	switch {
	case ip == nil || !ip.IsUnspecified():
		return host
	case ip.To4() != nil:
		return "127.0.0.1"
	default:
		return "::1"
	}
}
