package statesync

import (
	"context"

	"github.com/ledgerd/ledgerd/p2p"
)

// Network is what state sync and catch-up need from the network: the
// connected validators and one request/response exchange with one of them.
type Network interface {
	// Validators lists the indexes of the connected validators.
	Validators() []uint32
	// Request sends a request of kind to validator `to` and returns its
	// answer; ctx bounds the exchange.
	Request(ctx context.Context, to uint32, kind byte, payload []byte) ([]byte, error)
	// Handle serves kind (at least p2p.FirstUserKind) to the others.
	Handle(kind byte, h Handler) error
}

// Handler answers one request; from is the requester's validator index,
// or -1 for an observer.
type Handler func(ctx context.Context, from int, payload []byte) ([]byte, error)

// Request kinds of the sync protocol served by this package (kinds below
// p2p.FirstUserKind are p2p's own: entries and stream heads).
const (
	// KindCertificate asks for a final epoch's certificate: payload = 8-byte
	// big-endian epoch, answer = the encoded certificate.
	KindCertificate = p2p.FirstUserKind
	// KindCheckpoints: payload = 8-byte epoch `from`; answer = the server's
	// last final epoch (8), a count (2), then count records of (u32 len,
	// header, u32 len, certificate) for epochs from, from+1, … (from = 0:
	// only the last final epoch's record).
	KindCheckpoints = p2p.FirstUserKind + 1
	// KindAccounts: payload = epoch (8) + start address (20); answer = more
	// flag (1), count (2), then count records of address (20), balance (8),
	// nonce (8), ascending from start, of the final epoch's state.
	KindAccounts = p2p.FirstUserKind + 2
	// KindVotes asks for every vote a peer holds for an epoch not final yet
	// anywhere: payload = 8-byte epoch, answer = a list (stream.EncodeList)
	// of encoded votes. Gossip cannot heal a vote lost in a partition:
	// re-sent bytes have the same message ID, which gossipsub's seen cache
	// drops.
	KindVotes = p2p.FirstUserKind + 3
	// KindRounds asks for the round messages a peer holds of the agreement
	// on an epoch's cut: payload = 8-byte epoch, answer = a list of encoded
	// round messages. A validator that decided may never have sent its
	// own precommit; the others need the quorum it decided on.
	KindRounds = p2p.FirstUserKind + 4
)
