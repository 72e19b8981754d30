package eddy

// provHook is one handle's OnProviderChange callback.
type provHook struct {
	owner *Record
	fn    func(has bool)
}

// setProviderLocked records whether the record has an active provider and,
// on a change, queues the handles' callbacks. r.mu must be held.
func (r *localRecord) setProviderLocked(has bool) {
	if r.hasProvider == has {
		return
	}
	r.hasProvider = has
	for _, h := range r.provHooks {
		if !h.owner.done.Load() {
			fn := h.fn
			r.rs.c.disp.call(func() { fn(has) })
		}
	}
}

// HasProvider reports whether a client listening to records (see
// Records.Listen) currently provides this record.
func (h *Record) HasProvider() bool {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	return h.r.hasProvider
}

// OnProviderChange calls fn on the client's callback goroutine whenever the
// record gains (true) or loses (false) an active provider. It stops when
// the handle is discarded.
func (h *Record) OnProviderChange(fn func(has bool)) {
	if fn == nil || h.done.Load() {
		return
	}
	h.r.mu.Lock()
	h.r.provHooks = append(h.r.provHooks, provHook{owner: h, fn: fn})
	h.r.mu.Unlock()
}

// Listen asks the server to tell this client when records whose names match
// pattern (a Go regular expression matching the whole name) gain their
// first subscriber, so it can provide them: onFound(match, r) answers with
// r.Accept() or r.Reject(); onRemoved(match) runs when the last subscriber
// left, this client unlistened, or the connection dropped. Subscribers of a
// provided record see it through Record.HasProvider and OnProviderChange.
// The rules are those of Events.Listen.
func (rs *Records) Listen(pattern string, onFound func(match string, r *ListenResponse), onRemoved func(match string)) error {
	return rs.listen.listen(pattern, onFound, onRemoved)
}

// Unlisten stops listening to pattern; see Events.Unlisten.
func (rs *Records) Unlisten(pattern string) error { return rs.listen.unlisten(pattern) }
