package p2p

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n distinct ports on 127.0.0.1 that are free now and
// lie below the kernel's ephemeral range.
//
// Ports reserved with "127.0.0.1:0" and closed again come from the
// ephemeral range, where the kernel hands them straight back out to the
// next outgoing connection or port-0 listener of any process on the
// machine, in the window before the process they were meant for binds
// them. Below the range only an explicit bind can take them.
func FreePorts(n int) ([]int, error) {
	lo, hi := 20000, ephemeralLow()-1
	if hi-lo < 4*n {
		return nil, fmt.Errorf("p2p: no room below the ephemeral range (starts at %d) for %d ports", hi+1, n)
	}
	seen := make(map[int]bool, n)
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, errors.New("p2p: no free port found")
		}
		p := lo + rand.IntN(hi-lo+1)
		if seen[p] {
			continue
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux),
// 32768 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	v, err := strconv.Atoi(f[0])
	if err != nil || v <= 20000 {
		return 32768
	}
	return v
}
