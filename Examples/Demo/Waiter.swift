import Calf

/// A durable process that mints callback URLs and keeps what arrives at
/// them: `{"mint":{"seconds":60}}` answers a URL good for a minute,
/// `{"cancel":{"url":"…"}}` cancels one. What the callback connector's
/// tests drive through the binary (exactly once across `kill -9`).
public struct Waiter: DurableBehavior {
    /// A waiter.
    public init() {}

    /// What it takes.
    public enum Message: Codable, Sendable, CallbackMessage {
        /// Mints a callback good for `seconds`; answers its URL.
        case mint(seconds: Double)
        /// Cancels the callback with `url`; answers whether it had one.
        case cancel(url: String)
        /// A callback's body.
        case callbackArrived(CallbackArrival)
    }

    /// Its callbacks and what arrived.
    public struct State: Codable {
        /// The callbacks minted, in order.
        public var callbacks: [DurableCallback] = []
        /// Each arrival: the callback's id and the body as text.
        public var arrivals: [Arrival] = []
    }

    /// One arrival.
    public struct Arrival: Codable {
        /// The callback's id.
        public var callback: UInt64
        /// Its body, as text.
        public var body: String
    }

    /// None yet.
    public func initialState() -> State { State() }

    /// Mints, cancels, or notes an arrival.
    public func handle(_ message: Message, state: inout State, context: inout DurableContext<Message>) throws {
        switch message {
        case .mint(let seconds):
            let callback = try context.callback(expiresIn: .milliseconds(Int64(max(0, min(seconds, 1e9)) * 1000)))
            state.callbacks.append(callback)
            context.reply(callback.url)
        case .cancel(let url):
            let callback = state.callbacks.first { $0.url == url }
            if let callback { context.cancelCallback(callback) }
            context.reply(callback != nil)
        case .callbackArrived(let arrival):
            state.arrivals.append(Arrival(callback: arrival.callback, body: arrival.text ?? "(\(arrival.body.count) bytes)"))
        }
    }
}
