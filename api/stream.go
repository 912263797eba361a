package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/moegate/moegate/experts"
	"github.com/moegate/moegate/gateway"
	"github.com/moegate/moegate/internal/jsonenc"
)

// streamWriter writes chat.completion.chunk events. Nothing is written until
// the first delta arrives, so a request whose experts all fail before
// answering still gets a proper HTTP error status. Events are flushed only
// when no more of the answer is waiting, so an upstream's burst of chunks
// reaches the client in one write.
type streamWriter struct {
	c            *gin.Context
	info         *gateway.Info
	includeUsage bool
	id           string
	created      int64
	started      bool
	model        string
	// head is the start of every chunk event up to its choices, for
	// headModel.
	head      []byte
	headModel string
	pending   []byte // events held for the next flush
	route     []byte // the moegate object's route, encoded by the first event, or nil
	// The storage of head and route, kept with the writer for its next
	// stream (see Server.streamWriter).
	headBuf, routeBuf []byte
	// onDelta is delta as a func value, made once per writer (a method
	// value is an allocation each time it is taken).
	onDelta func(experts.Delta) error
}

// streamWriter returns a writer for a new stream, one kept from an earlier
// stream if there is one: its buffers are reused.
func (s *Server) streamWriter(c *gin.Context, info *gateway.Info, includeUsage bool, model string) *streamWriter {
	w, _ := s.streams.Get().(*streamWriter)
	if w == nil {
		w = &streamWriter{
			// Room for a short answer's events with their two moegate
			// objects: growing from nothing took four allocations.
			pending: make([]byte, 0, 4<<10),
		}
		w.onDelta = w.delta
	}
	*w = streamWriter{c: c, info: info, includeUsage: includeUsage, created: time.Now().Unix(), model: model,
		id:      "chatcmpl-" + strings.TrimPrefix(info.RequestID, "req_"),
		pending: w.pending[:0], headBuf: w.headBuf[:0], routeBuf: w.routeBuf[:0], onDelta: w.onDelta}
	return w
}

// keepStream takes back w once its stream is over: nothing writes to a
// stream once its handler returns (a stream is only ever sent from the
// handler's goroutine). A writer grown by an unusually long answer is not
// kept.
func (s *Server) keepStream(w *streamWriter) {
	if cap(w.pending) > 64<<10 {
		return
	}
	w.c, w.info = nil, nil // not kept alive by the pool
	s.streams.Put(w)
}

// start sends the headers and the first chunk: the assistant role and the
// moegate object. It does not flush: the first piece of the answer
// follows at once.
func (w *streamWriter) start() error {
	w.started = true
	h := w.c.Writer.Header()
	// Set as they are (never changed), as gin does, to save Header.Set's
	// canonicalisation and allocation.
	h["Content-Type"] = sseContentType
	h["Cache-Control"] = noCache
	h["Connection"] = keepAlive
	h["X-Accel-Buffering"] = noBuffering
	h["X-Moegate-Route"] = []string{w.info.Header()}
	w.c.Status(http.StatusOK)
	return w.infoEvent(`,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"logprobs":null}]`, "")
}

var (
	sseContentType = []string{"text/event-stream"}
	noCache        = []string{"no-cache"}
	keepAlive      = []string{"keep-alive"}
	noBuffering    = []string{"no"}
)

// infoEvent writes (without flushing) a chunk event carrying the moegate
// object, encoded without reflection: choices before, finish (if not "")
// as its finish reason, the bytes json.Marshal would write for its chatChunk.
func (w *streamWriter) infoEvent(choices, finish string) error {
	b := append(w.pending, w.chunkHead()...)
	b = append(b, choices...)
	if finish != "" {
		b = jsonenc.String(b, finish)
		b = append(b, `,"logprobs":null}]`...)
	}
	b, route, err := w.info.AppendJSONRoute(append(b, `,"moegate":`...), w.route)
	if err != nil {
		return err
	}
	if w.route == nil {
		w.routeBuf = append(w.routeBuf[:0], route...)
		w.route = w.routeBuf
	}
	w.pending = append(b, "}\n\n"...)
	return nil
}

func (w *streamWriter) send(ch chatChunk, flush bool) error {
	ch.ID, ch.Object, ch.Created, ch.Model = w.id, "chat.completion.chunk", w.created, w.model
	if ch.Choices == nil {
		ch.Choices = []chunkChoice{}
	}
	b, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	return w.event(b, flush)
}

func (w *streamWriter) event(data []byte, flush bool) error {
	w.pending = append(append(append(w.pending, "data: "...), data...), '\n', '\n')
	return w.write(nil, flush)
}

// write sends b, at once when flush is set; otherwise it is held to go
// with what follows in one write (the server's own buffers are a few KB,
// less than a burst of chunks with two moegate objects, and each of
// their writes is a system call).
func (w *streamWriter) write(b []byte, flush bool) error {
	w.pending = append(w.pending, b...)
	if !flush {
		return nil
	}
	if err := w.out(); err != nil {
		return err
	}
	w.c.Writer.Flush()
	return nil
}

// out hands what is pending to the server, without flushing.
func (w *streamWriter) out() error {
	_, err := w.c.Writer.Write(w.pending)
	w.pending = w.pending[:0]
	return err
}

// chunkHead returns the bytes json.Marshal writes for a chatChunk before
// its choices, prefixed with "data: ", built once per model.
func (w *streamWriter) chunkHead() []byte {
	if w.head != nil && w.headModel == w.model {
		return w.head
	}
	b := append(w.headBuf[:0], `data: {"id":`...)
	b = jsonenc.String(b, w.id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, w.created, 10)
	b = append(b, `,"model":`...)
	b = jsonenc.String(b, w.model)
	w.head, w.headBuf, w.headModel = b, b, w.model
	return b
}

// appendContent appends to pending the event of a content-only delta,
// encoded without reflection: the bytes json.Marshal would write for its
// chatChunk.
func (w *streamWriter) appendContent(content string) {
	b := append(w.pending, w.chunkHead()...)
	b = append(b, `,"choices":[{"index":0,"delta":{"content":`...)
	b = jsonenc.String(b, content)
	w.pending = append(b, "},\"finish_reason\":null,\"logprobs\":null}]}\n\n"...)
}

// appendMembers appends to pending an upstream's chunk as its event: the
// gateway's id, object, created and model, then the chunk's other members
// (see experts.Delta.Members), every byte kept.
func (w *streamWriter) appendMembers(members []byte) {
	b := append(w.pending, w.chunkHead()...)
	w.pending = append(append(b, members...), "}\n\n"...)
}

// delta is the aggregate package's callback: one piece of the answer.
func (w *streamWriter) delta(d experts.Delta) error {
	if !w.started {
		if err := w.start(); err != nil {
			return err
		}
	}
	if d.Content == "" && len(d.ToolCalls) == 0 {
		if !d.More {
			w.c.Writer.Flush()
		}
		return nil
	}
	if len(d.ToolCalls) > 0 {
		// A copy, so that only this rare case moves a string to the heap
		// (taking d.Content's address did so on every call).
		var content *string
		if d.Content != "" {
			content = new(string)
			*content = d.Content
		}
		return w.send(chatChunk{Choices: []chunkChoice{{Delta: chunkDelta{Content: content, ToolCalls: d.ToolCalls}}}}, !d.More)
	}
	if d.Members != nil {
		w.appendMembers(d.Members)
	} else {
		w.appendContent(d.Content)
	}
	return w.write(nil, !d.More)
}

// finish sends the finish reason, the final moegate object (now with each
// expert's latency), usage when asked, and [DONE], in one write: not
// flushed, as the server flushes when the handler returns, with the end of
// the chunked body in the same write.
func (w *streamWriter) finish(out *gateway.Result) {
	w.model = out.Answered
	if !w.started {
		if err := w.start(); err != nil {
			return
		}
	}
	finish := out.Response.FinishReason
	if finish == "" {
		finish = "stop"
	}
	_ = w.infoEvent(`,"choices":[{"index":0,"delta":{},"finish_reason":`, finish)
	if w.includeUsage {
		_ = w.send(chatChunk{Usage: usageOf(out.Response.Usage)}, false)
	}
	_ = w.event(doneData, false)
	_ = w.out()
}

var doneData = []byte("[DONE]")

// fail reports an error after the stream started, in OpenAI's error shape.
func (w *streamWriter) fail(e error) {
	_, body, _ := describe(e, w.info.RequestID)
	b, _ := json.Marshal(body)
	_ = w.event(b, true)
}
