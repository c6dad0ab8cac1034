package ledger

import (
	"errors"
	"testing"
)

func TestStatusStrings(t *testing.T) {
	seen := map[string]bool{}
	for s := Status(0); s < numStatuses; s++ {
		name := s.String()
		if name == "" || seen[name] {
			t.Fatalf("status %d has empty or duplicate name %q", s, name)
		}
		seen[name] = true
		if back, ok := ParseStatus(name); !ok || back != s {
			t.Fatalf("ParseStatus(%q) = %d, %v", name, back, ok)
		}
	}
	if got := Status(200).String(); got != "status_200" {
		t.Fatalf("unknown status prints %q", got)
	}
	if _, ok := ParseStatus("nope"); ok {
		t.Fatal("ParseStatus accepted an unknown name")
	}
}

func TestReceiptEncoding(t *testing.T) {
	r := Receipt{TxHash: Hash{1, 2}, Sender: Address{3}, Status: StatusBadNonce}
	b := r.Encode()
	if len(b) != ReceiptBytes {
		t.Fatalf("encoding is %d bytes", len(b))
	}
	got, err := DecodeReceipt(b)
	if err != nil || got != r {
		t.Fatalf("DecodeReceipt = %+v, %v; want %+v", got, err, r)
	}
	for _, bad := range [][]byte{nil, b[:52], append(b, 0), append(b[:52:52], numStatuses)} {
		if _, err := DecodeReceipt(bad); !errors.Is(err, ErrBadReceipt) {
			t.Fatalf("DecodeReceipt(%x) = %v; want ErrBadReceipt", bad, err)
		}
	}
}

// TestMerkleRoots checks the RFC 6962 shape on small lists by hand.
func TestMerkleRoots(t *testing.T) {
	h := []Hash{{1}, {2}, {3}}
	leaf := func(x Hash) Hash { return keccak([]byte{0}, x[:]) }
	node := func(l, r Hash) Hash { return keccak([]byte{1}, l[:], r[:]) }
	if TxRoot(nil) != keccak() {
		t.Fatal("empty root is not keccak of nothing")
	}
	if TxRoot(h[:1]) != leaf(h[0]) {
		t.Fatal("one-leaf root")
	}
	if TxRoot(h[:2]) != node(leaf(h[0]), leaf(h[1])) {
		t.Fatal("two-leaf root")
	}
	if TxRoot(h) != node(node(leaf(h[0]), leaf(h[1])), leaf(h[2])) {
		t.Fatal("three-leaf root")
	}
	if TxRoot([]Hash{h[1], h[0]}) == TxRoot(h[:2]) {
		t.Fatal("root ignores order")
	}
	// A leaf equal to an inner node of another list does not collide.
	inner := node(leaf(h[0]), leaf(h[1]))
	if TxRoot([]Hash{inner}) == TxRoot(h[:2]) {
		t.Fatal("second-preimage collision between a leaf and an inner node")
	}
	rs := []Receipt{{TxHash: Hash{1}, Status: StatusOK}, {TxHash: Hash{1}, Status: StatusDuplicate}}
	if ReceiptsRoot(rs) == ReceiptsRoot(rs[:1]) || ReceiptsRoot(rs) == TxRoot([]Hash{{1}, {1}}) {
		t.Fatal("receipts root does not commit to statuses")
	}
}
