import Synchronization
import CalfControl

/// The messages a traced process takes in and sends out, for the operator's
/// `trace P`: Erlang's `dbg:p(P, [m])`.
///
/// The process records events on its own thread; whoever follows the trace
/// takes them from another (`take`). At most `capacity` events wait: beyond
/// that they are counted as dropped, so a slow follower never holds the
/// process back. The trace ends once `limit` events were recorded, when the
/// process exits, or when the follower `cancel`s it.
public final class ProcessTrace: Sendable {
    /// One message in or out.
    public struct Event: Codable, Sendable, Equatable {
        /// `in` (taken from the mailbox) or `out` (sent or replied).
        public var direction: String
        /// `message`, `call`, `reply`, `signal` or `stop`.
        public var kind: String
        /// The other process (for `out`: the recipient), if known.
        public var peer: String?
        /// The message as JSON (its description if it is not `Encodable`).
        public var message: String
        /// When it happened, in nanoseconds since 1970.
        public var at: UInt64
    }

    /// What the follower gets from `take`.
    public struct Batch: Sendable {
        /// The events recorded since the last `take`, oldest first.
        public var events: [Event]
        /// Events lost since the last `take` because too many were waiting.
        public var dropped: Int
        /// Why the trace ended, once it has (after these events).
        public var ended: String?
    }

    private struct Buffer {
        var events: [Event] = []
        var dropped = 0
        var recorded = 0
        var ended: String?
    }

    /// Events the process may record before the trace ends (nil: no limit).
    public let limit: Int?
    /// Events kept waiting for the follower at most.
    public let capacity: Int
    private let buffer = Mutex(Buffer())
    private let ready: @Sendable () -> Void

    /// A trace that ends after `limit` events; `ready` is called (on the
    /// traced process's thread) when events wait after none did, and when
    /// the trace ends.
    public init(limit: Int?, capacity: Int = 1_000, ready: @escaping @Sendable () -> Void) {
        self.limit = limit
        self.capacity = capacity
        self.ready = ready
    }

    /// Whether the trace has ended.
    public var hasEnded: Bool { buffer.withLock { $0.ended != nil } }

    /// Takes the events waiting, and says whether the trace has ended.
    public func take() -> Batch {
        buffer.withLock { buffer in
            defer {
                buffer.events.removeAll(keepingCapacity: true)
                buffer.dropped = 0
            }
            return Batch(events: buffer.events, dropped: buffer.dropped, ended: buffer.ended)
        }
    }

    /// Ends the trace (the process stops recording at its next message).
    public func cancel(_ reason: String = "cancelled") { end(reason) }

    package func end(_ reason: String) {
        let changed = buffer.withLock { buffer -> Bool in
            guard buffer.ended == nil else { return false }
            buffer.ended = reason
            return true
        }
        if changed { ready() }
    }

    /// Records one event; false once the trace has ended (the process then drops it).
    @discardableResult
    package func record(_ direction: String, _ kind: String, peer: Pid?, message: some Sendable) -> Bool {
        let event = Event(direction: direction, kind: kind, peer: peer?.description, message: OperatorJSON.text(message), at: WallTime.now.nanosecondsSinceEpoch)
        let (wake, open) = buffer.withLock { buffer -> (Bool, Bool) in
            guard buffer.ended == nil else { return (false, false) }
            buffer.recorded += 1
            if buffer.events.count < capacity {
                buffer.events.append(event)
            } else {
                buffer.dropped += 1
            }
            if let limit, buffer.recorded >= limit {
                buffer.ended = "limit of \(limit) reached"
                return (true, false)
            }
            return (buffer.events.count == 1, true)
        }
        if wake { ready() }
        return open
    }
}

extension ProcessCell {
    /// Records `envelope` as taken in by this traced process (off the hot path).
    @usableFromInline @inline(never)
    package final func traceReceived<Message>(_ envelope: Envelope<Message>, on trace: ProcessTrace) {
        let open: Bool
        switch envelope {
        case .message(let message): open = trace.record("in", "message", peer: nil, message: message)
        case .call(let message, _): open = trace.record("in", "call", peer: nil, message: message)
        case .committed(let mail): open = trace.record("in", mail.slot == nil ? "message" : "call", peer: nil, message: mail.message)
        case .signal(let signal): open = trace.record("in", "signal", peer: nil, message: String(describing: signal))
        case .stop(let reason): open = trace.record("in", "stop", peer: nil, message: reason.description)
        }
        if !open { stopTracing() }
    }

    /// Drops its trace, back to the untraced turn (loop thread).
    package final func stopTracing() {
        trace = nil
        setTraced(false)
    }

    /// Records `message` as sent by this traced process to `peer` (off the hot path).
    @usableFromInline @inline(never)
    package final func traceSent(_ kind: String, _ message: some Sendable, to peer: Pid?, on trace: ProcessTrace) {
        if !trace.record("out", kind, peer: peer, message: message) { stopTracing() }
    }
}
