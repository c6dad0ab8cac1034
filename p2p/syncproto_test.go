package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/ledgerd/ledgerd/checkpoint/stream"
)

func TestSyncCodecs(t *testing.T) {
	q := EntriesRequest{Origin: 2, From: 5, To: 9, MaxBytes: 1000}
	got, err := DecodeEntriesRequest(q.Encode())
	if err != nil || got != q {
		t.Fatalf("DecodeEntriesRequest = %+v, %v; want %+v", got, err, q)
	}
	for _, bad := range []EntriesRequest{{From: 0, To: 1}, {From: 5, To: 4}} {
		if _, err := DecodeEntriesRequest(bad.Encode()); !errors.Is(err, ErrBadMessage) {
			t.Errorf("range %d..%d: %v", bad.From, bad.To, err)
		}
	}
	list := [][]byte{[]byte("a"), []byte("bcd")}
	l, err := DecodeEntryList(stream.EncodeList(list))
	if err != nil || len(l) != 2 || string(l[1]) != "bcd" {
		t.Fatalf("DecodeEntryList = %q, %v", l, err)
	}
	if _, err := DecodeEntryList(append(stream.EncodeList(list), 0)); !errors.Is(err, ErrBadMessage) {
		t.Errorf("trailing list: %v", err)
	}
	if _, err := DecodeEntryList([]byte{0xff, 0xff, 0xff, 0xff}); !errors.Is(err, ErrBadMessage) {
		t.Errorf("huge count: %v", err)
	}
	h, err := DecodeStatus(EncodeStatus([]uint64{1, 2, 3}))
	if err != nil || len(h) != 3 || h[2] != 3 {
		t.Fatalf("DecodeStatus = %v, %v", h, err)
	}
	if _, err := DecodeStatus([]byte{0, 0, 0, 1, 0}); !errors.Is(err, ErrBadMessage) {
		t.Errorf("short status: %v", err)
	}
	var buf bytes.Buffer
	if err := writeFrame(&buf, 7, []byte("payload")); err != nil {
		t.Fatal(err)
	}
	tag, p, err := readFrame(bufio.NewReader(bytes.NewReader(buf.Bytes())), 100)
	if err != nil || tag != 7 || string(p) != "payload" {
		t.Fatalf("readFrame = %d %q %v", tag, p, err)
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(buf.Bytes())), 4); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize frame: %v", err)
	}
}

func FuzzDecodeEntriesRequest(f *testing.F) {
	f.Add(EntriesRequest{Origin: 1, From: 1, To: 10, MaxBytes: 5}.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := DecodeEntriesRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(q.Encode(), b) {
			t.Fatal("re-encode differs")
		}
	})
}

func FuzzDecodeEntryList(f *testing.F) {
	f.Add(stream.EncodeList([][]byte{[]byte("x"), {}}))
	f.Add([]byte{0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeEntryList(b)
		if err != nil {
			return
		}
		if !bytes.Equal(stream.EncodeList(l), b) {
			t.Fatal("re-encode differs")
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(EncodeStatus([]uint64{4, 5}))
	f.Add([]byte{0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeStatus(b)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeStatus(h), b) {
			t.Fatal("re-encode differs")
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = writeFrame(&buf, 1, []byte("abc"))
	f.Add(buf.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, p, err := readFrame(bufio.NewReader(bytes.NewReader(b)), 1024)
		if err != nil {
			return
		}
		var out bytes.Buffer
		_ = writeFrame(&out, tag, p)
		tag2, p2, err := readFrame(bufio.NewReader(&out), 1024)
		if err != nil || tag2 != tag || !bytes.Equal(p2, p) {
			t.Fatalf("round trip: %d %x %v; want %d %x", tag2, p2, err, tag, p)
		}
	})
}
