// Package testnet renders the compose file of a local ledgerd testnet
// and holds its end-to-end tests (build tag e2e), which drive the running
// containers through their published HTTP ports only.
//
// It does no I/O: cmd/ledgerd writes the validator homes, genesis and keys
// and calls Compose for the file's text. The image is built FROM scratch from
// a static binary (testnet/Dockerfile), so the compose file uses exec-form
// health checks through the binary itself and no shell.
package testnet

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Ports and paths inside every container. Each container has its own
// network namespace, so all validators use the same internal ports.
const (
	// P2PPort is the libp2p TCP port inside the container (not published).
	P2PPort = 26656
	// APIPort is the HTTP API port inside the container.
	APIPort = 8600
	// MetricsPort is the Prometheus port inside the container.
	MetricsPort = 9600
	// HomeDir is where a validator's home is mounted, read-only.
	HomeDir = "/home/ledgerd"
	// DataDir is where the validator's named data volume is mounted.
	DataDir = "/data"
	// ContainerUser is the numeric user:group the nodes run as.
	ContainerUser = "65532:65532"
	// DefaultImage is the image name the Makefile builds and the compose
	// file uses unless told otherwise.
	DefaultImage = "ledgerd:testnet"
	// MaxValidators bounds the number of services in one file.
	MaxValidators = 64
)

// ErrBadSpec reports an invalid Spec; the message names the field.
var ErrBadSpec = errors.New("testnet: bad compose spec")

// Spec describes the compose file of one testnet.
type Spec struct {
	// Validators is the number of services v0 … v{N-1}, in [1, MaxValidators].
	Validators int
	// Image is the ledgerd image; empty means DefaultImage.
	Image string
	// APIPortBase: validator i's API is published on 127.0.0.1:(APIPortBase+i).
	APIPortBase int
	// MetricsPortBase: validator i's metrics on 127.0.0.1:(MetricsPortBase+i).
	MetricsPortBase int
	// HostGroupID is added to the container user's groups so it can read the
	// home files, which are generated with mode 0640 and 0750 on the host.
	HostGroupID int
	// GoMaxProcs, when positive, is every container's GOMAXPROCS: the
	// validators share the host's cores, as a devnet's do. 0 leaves Go's
	// default (the container's CPU limit, else every core of the host).
	GoMaxProcs int
}

// CPUShare is each of validators' share of cpus, at least 1: the
// GOMAXPROCS of validators that share one machine (a devnet's processes,
// a testnet's containers).
func CPUShare(cpus, validators int) int { return max(1, cpus/max(1, validators)) }

// ServiceName is the compose service, container DNS name and home
// directory name of validator i.
func ServiceName(i int) string { return fmt.Sprintf("v%d", i) }

// P2PAddr is validator i's libp2p address on the compose network.
func P2PAddr(i int, peerID string) string {
	return fmt.Sprintf("/dns4/%s/tcp/%d/p2p/%s", ServiceName(i), P2PPort, peerID)
}

// P2PListen is the libp2p listen address inside every container.
func P2PListen() string { return fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", P2PPort) }

// APIListen is the API listen address inside every container: all
// interfaces of the container, published on the host's loopback only.
func APIListen() string { return fmt.Sprintf("0.0.0.0:%d", APIPort) }

// MetricsListen is the metrics listen address inside every container.
func MetricsListen() string { return fmt.Sprintf("0.0.0.0:%d", MetricsPort) }

var imageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$`)

// Validate checks every field of s.
func (s Spec) Validate() error {
	if s.Validators < 1 || s.Validators > MaxValidators {
		return fmt.Errorf("%w: validators %d out of range [1, %d]", ErrBadSpec, s.Validators, MaxValidators)
	}
	if s.Image != "" && (len(s.Image) > 255 || !imageRE.MatchString(s.Image)) {
		return fmt.Errorf("%w: image %q is not a valid image reference", ErrBadSpec, s.Image)
	}
	for _, p := range []struct {
		name string
		base int
	}{{"api port base", s.APIPortBase}, {"metrics port base", s.MetricsPortBase}} {
		if p.base < 1024 || p.base+s.Validators-1 > 65535 {
			return fmt.Errorf("%w: %s %d: ports %d..%d must lie in [1024, 65535]", ErrBadSpec, p.name, p.base, p.base, p.base+s.Validators-1)
		}
	}
	a0, a1 := s.APIPortBase, s.APIPortBase+s.Validators-1
	m0, m1 := s.MetricsPortBase, s.MetricsPortBase+s.Validators-1
	if a0 <= m1 && m0 <= a1 {
		return fmt.Errorf("%w: api ports %d..%d overlap metrics ports %d..%d", ErrBadSpec, a0, a1, m0, m1)
	}
	if s.HostGroupID < 0 || s.HostGroupID > 1<<31-1 {
		return fmt.Errorf("%w: host group id %d out of range", ErrBadSpec, s.HostGroupID)
	}
	if s.GoMaxProcs < 0 || s.GoMaxProcs > 1<<16 {
		return fmt.Errorf("%w: GOMAXPROCS %d out of range [0, 65536]", ErrBadSpec, s.GoMaxProcs)
	}
	return nil
}

// Compose renders the compose file: the Compose Specification, with no
// top-level version key, which Compose v2 (docker compose) and v1 from
// 1.27 on (docker-compose) both read, health-gated depends_on included.
// Every validator home is mounted read-only at HomeDir; its data lives on
// a named volume at DataDir. v0 starts first; the others wait until v0 is
// healthy, so their first dials find a peer. The network is a private
// bridge; only the API and metrics ports are published, on 127.0.0.1.
func Compose(s Spec) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	image := s.Image
	if image == "" {
		image = DefaultImage
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by `ledgerd testnet --docker`: %d validators.\n", s.Validators)
	b.WriteString("# Start: docker compose up -d   Stop and delete data: docker compose down -v\n")
	b.WriteString("# (with Compose v1: docker-compose up -d, docker-compose down -v)\n")
	b.WriteString("# Published on 127.0.0.1 only:\n")
	for i := range s.Validators {
		fmt.Fprintf(&b, "#   %-4s api http://127.0.0.1:%d  metrics http://127.0.0.1:%d/metrics\n",
			ServiceName(i), s.APIPortBase+i, s.MetricsPortBase+i)
	}
	b.WriteString("\nservices:\n")
	for i := range s.Validators {
		name := ServiceName(i)
		fmt.Fprintf(&b, "  %s:\n", name)
		fmt.Fprintf(&b, "    image: %q\n", image)
		fmt.Fprintf(&b, "    command: [\"run\", \"--home\", %q]\n", HomeDir)
		fmt.Fprintf(&b, "    user: %q\n", ContainerUser)
		fmt.Fprintf(&b, "    group_add: [\"%d\"]\n", s.HostGroupID)
		b.WriteString("    read_only: true\n")
		b.WriteString("    stop_grace_period: 20s\n")
		b.WriteString("    restart: \"no\"\n")
		if s.GoMaxProcs > 0 {
			fmt.Fprintf(&b, "    environment:\n      GOMAXPROCS: \"%d\"\n", s.GoMaxProcs)
		}
		b.WriteString("    networks: [ledgerd]\n")
		b.WriteString("    ports:\n")
		fmt.Fprintf(&b, "      - \"127.0.0.1:%d:%d\"\n", s.APIPortBase+i, APIPort)
		fmt.Fprintf(&b, "      - \"127.0.0.1:%d:%d\"\n", s.MetricsPortBase+i, MetricsPort)
		b.WriteString("    volumes:\n")
		fmt.Fprintf(&b, "      - \"./%s:%s:ro\"\n", name, HomeDir)
		fmt.Fprintf(&b, "      - \"%s-data:%s\"\n", name, DataDir)
		b.WriteString("    healthcheck:\n")
		fmt.Fprintf(&b, "      test: [\"CMD\", \"/ledgerd\", \"healthcheck\", \"--node\", \"http://127.0.0.1:%d\"]\n", APIPort)
		b.WriteString("      interval: 2s\n      timeout: 5s\n      retries: 5\n      start_period: 20s\n")
		if i > 0 {
			b.WriteString("    depends_on:\n")
			fmt.Fprintf(&b, "      %s:\n        condition: service_healthy\n", ServiceName(0))
		}
	}
	b.WriteString("\nnetworks:\n  ledgerd:\n    driver: bridge\n\nvolumes:\n")
	for i := range s.Validators {
		fmt.Fprintf(&b, "  %s-data: {}\n", ServiceName(i))
	}
	return []byte(b.String()), nil
}
