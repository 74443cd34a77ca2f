// The Go peer of the echo benchmark: the same jobs as the native controls, written the way
// a Go programmer would with the standard library alone. One goroutine per connection,
// blocking reads and writes (the runtime's netpoller multiplexes them), TCP_NODELAY (Go's
// default for TCP).
//
//	go build -o /tmp/echo-go . && /tmp/echo-go --port 0 --framer raw|lines|length
//
// raw: read into a 32 KiB buffer (io.Copy's size), write what was read back. lines: a
// bufio.Reader (4 KiB) and ReadSlice('\n'); a line that does not fit the reader's buffer
// is gathered piece by piece up to 64 KiB, beyond which the connection is closed. length:
// a 4-byte big-endian header and io.ReadFull of the payload (at most 8 MiB) into a buffer
// reused from frame to frame. Framed replies go to a bufio.Writer, flushed when the reader
// holds no more input: every frame of one read is answered by one write, as the other
// servers do.
//
// The runner's contract (the same as bench/_harness.ts): prints "ready <port>" once
// listening; SIGUSR2 runs a full GC, returns freed memory to the OS and prints
// "gc heap <bytes of live heap>"; SIGTERM closes the listener and exits 0.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

const (
	maxLine  = 64 * 1024       // the longest line accepted (tcpkit's lines() default)
	maxFrame = 8 * 1024 * 1024 // the longest frame payload accepted (tcpkit's default)
	keepBuf  = 64 * 1024       // a frame buffer larger than this is not kept between frames
)

var errTooLong = errors.New("frame too long")

func echoRaw(c net.Conn) error {
	buf := make([]byte, 32*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			// Write returns only when every byte is written, or on an error.
			if _, werr := c.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line with its '\n'. The slice is valid until the next read.
// long holds the pieces of a line longer than the reader's buffer.
func readLine(r *bufio.Reader, long *[]byte) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	*long = append((*long)[:0], line...)
	for {
		line, err = r.ReadSlice('\n')
		if len(*long)+len(line) > maxLine {
			return nil, errTooLong
		}
		*long = append(*long, line...)
		if err != bufio.ErrBufferFull {
			return *long, err
		}
	}
}

func echoLines(c net.Conn) error {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var long []byte
	for {
		line, err := readLine(r, &long)
		if err != nil {
			return err // a partial last line is not echoed
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		if cap(long) > 4096 {
			long = nil
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

func echoLength(c net.Conn) error {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	var header [4]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, header[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(header[:])
		if n > maxFrame {
			return errTooLong
		}
		if uint32(cap(payload)) < n {
			payload = make([]byte, n)
		}
		body := payload[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		w.Write(header[:]) // a write error is kept by the Writer and returned by the next
		if _, err := w.Write(body); err != nil {
			return err
		}
		if cap(payload) > keepBuf {
			payload = nil
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
}

func serve(ln net.Listener, echo func(net.Conn) error) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or memory: back off a little, as net/http does.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			echo(c) // the error (a reset, an oversized frame) only ends the connection
		}()
	}
}

func main() {
	port := flag.Int("port", 0, "port to listen on, 127.0.0.1; 0 = any free port")
	framer := flag.String("framer", "raw", "raw, lines or length")
	flag.Parse()
	echoes := map[string]func(net.Conn) error{
		"raw": echoRaw, "lines": echoLines, "length": echoLength,
	}
	echo, ok := echoes[*framer]
	if !ok {
		fmt.Fprintf(os.Stderr, "--framer must be one of raw, lines, length, got %q\n", *framer)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGUSR2, syscall.SIGTERM)
	go serve(ln, echo)
	fmt.Printf("ready %d\n", ln.Addr().(*net.TCPAddr).Port)
	for s := range signals {
		if s == syscall.SIGTERM {
			ln.Close()
			os.Exit(0)
		}
		debug.FreeOSMemory() // a full GC, then freed memory back to the OS
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Printf("gc heap %d\n", m.HeapAlloc)
	}
}
