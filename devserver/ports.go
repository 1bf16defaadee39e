package devserver

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports for servers are picked below the kernel's ephemeral range (Linux
// hands out 32768–60999 for outgoing connections and ":0" listeners) and
// below Kubernetes' NodePort range (30000–32767). A port found with ":0" and
// released can be taken by any process's next outgoing connection before
// the server binds it, and an embedded Temporal service that loses its port
// that way crashes.
//
// That leaves other processes picking ports the same way: several test
// binaries, each starting servers, run side by side. Probing with a listen
// and closing it again cannot stop two of them choosing the same port in the
// moment between the probe and the server's bind. So a pick is also
// reserved: the picking process binds the abstract Unix socket
// "@sluice-port-N" and keeps it open. The kernel lets one socket hold that
// name, across all processes of the network namespace, and frees it when
// the process ends, however it ends; nothing is left on disk.
var (
	portLow, portHigh = 20000, 30000
	lockPrefix        = "@sluice-port-"
)

var reserved = struct {
	sync.Mutex
	locks map[int]net.Listener
}{locks: map[int]net.Listener{}}

// freePort picks a port on ip that is free now and that no other process
// picking this way holds, and reserves it until release.
func freePort(ip string) (int, error) {
	n := portHigh - portLow
	start := rand.IntN(n) // from a random port, through the whole range
	for i := range n {
		port := portLow + (start+i)%n
		lock, err := net.Listen("unix", lockPrefix+strconv.Itoa(port))
		if err != nil {
			continue // reserved by this or another process
		}
		probe, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			lock.Close()
			continue // someone else listens there
		}
		probe.Close()
		reserved.Lock()
		reserved.locks[port] = lock
		reserved.Unlock()
		return port, nil
	}
	return 0, fmt.Errorf("no free port on %s between %d and %d: stop servers this machine no longer needs", ip, portLow, portHigh-1)
}

// release gives reserved ports back once their listeners are closed.
func release(ports ...int) {
	reserved.Lock()
	defer reserved.Unlock()
	for _, p := range ports {
		if l, ok := reserved.locks[p]; ok {
			l.Close()
			delete(reserved.locks, p)
		}
	}
}

// FreePort returns a free TCP port on 127.0.0.1 for a server this process
// or its child starts, for tests and for `sluice dev` when asked to pick
// ports itself. The port stays reserved while this process runs.
func FreePort() (int, error) { return freePort("127.0.0.1") }
