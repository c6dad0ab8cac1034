package api

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// sseEvent is one decoded Server-Sent Event.
type sseEvent struct {
	Event string // "message" when the stream names none
	ID    string
	Data  []byte
}

// sseDecoder decodes the text/event-stream format (the subset of the WHATWG
// rules the client needs: event, id and data fields, comments, CRLF or LF
// line ends), with a bound on the size of one event.
type sseDecoder struct {
	r        *bufio.Reader
	maxBytes int
}

func newSSEDecoder(r io.Reader, maxBytes int) *sseDecoder {
	return &sseDecoder{r: bufio.NewReaderSize(r, 64<<10), maxBytes: maxBytes}
}

// errEventTooLarge is wrapped when an event exceeds the decoder's bound.
var errEventTooLarge = errors.New("event too large")

// Next returns the next event with at least one data line. It returns
// io.EOF at the end of the stream (a partial event at the end is dropped,
// as SSE requires).
func (d *sseDecoder) Next() (sseEvent, error) {
	var ev sseEvent
	var data bytes.Buffer
	hasData := false
	size := 0
	for {
		line, err := d.readLine(d.maxBytes - size)
		if err != nil {
			return sseEvent{}, err
		}
		size += len(line) + 1
		if len(line) == 0 { // dispatch
			if hasData {
				ev.Data = data.Bytes()
				if ev.Event == "" {
					ev.Event = "message"
				}
				return ev, nil
			}
			ev, size = sseEvent{}, 0
			continue
		}
		if line[0] == ':' {
			continue // comment (heartbeat)
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Event = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID = string(value)
			}
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
		// "retry" and unknown fields are ignored.
	}
}

// readLine reads one line without its LF or CRLF ending, at most max bytes.
func (d *sseDecoder) readLine(max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		if len(line)+len(chunk) > max+2 {
			return nil, fmt.Errorf("%w: %w (limit %d bytes)", ErrStream, errEventTooLarge, d.maxBytes)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			line = line[:len(line)-1]
			return bytes.TrimSuffix(line, []byte("\r")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, io.EOF // an unterminated line is dropped
		default:
			return nil, fmt.Errorf("%w: read: %w", ErrStream, err)
		}
	}
}
