import CalfControl
import Synchronization

/// What a node's HTTP API has served, for `stats`: the API (CalfHTTP)
/// counts into it, the runtime only reads it, so that the runtime knows
/// nothing of HTTP but these figures.
///
/// Thread-safe: every field is an atomic or a `Mutex`.
public final class HTTPCounters: Sendable {
    private let boundAddress = Mutex<String?>(nil)
    private let requests = Atomic<UInt64>(0)
    private let clientErrors = Atomic<UInt64>(0)
    private let serverErrors = Atomic<UInt64>(0)
    private let inFlight = Atomic<Int>(0)

    /// Counters with no address yet (the API has not listened).
    public init() {}

    /// Records where the API listens (`http://HOST:PORT`) once it does.
    public func listening(at url: String) { boundAddress.withLock { $0 = url } }

    /// Counts a request begun; `ended(status:)` counts its end.
    public func began() { inFlight.wrappingAdd(1, ordering: .relaxed) }

    /// Counts a request answered with `status`.
    public func ended(status: Int) {
        inFlight.wrappingSubtract(1, ordering: .relaxed)
        requests.wrappingAdd(1, ordering: .relaxed)
        if (400..<500).contains(status) { clientErrors.wrappingAdd(1, ordering: .relaxed) }
        if status >= 500 { serverErrors.wrappingAdd(1, ordering: .relaxed) }
    }

    /// The figures now (nil before the API listens).
    public var report: NodeStats.HTTPStats? {
        guard let address = boundAddress.withLock({ $0 }) else { return nil }
        return NodeStats.HTTPStats(
            address: address, requests: requests.load(ordering: .relaxed), clientErrors: clientErrors.load(ordering: .relaxed),
            serverErrors: serverErrors.load(ordering: .relaxed), inFlight: inFlight.load(ordering: .relaxed))
    }
}

extension Node {
    /// The counters of this node's HTTP API (the same object every time;
    /// `stats` shows them once the API has listened).
    public var httpCounters: HTTPCounters { core.httpCounters }
}
