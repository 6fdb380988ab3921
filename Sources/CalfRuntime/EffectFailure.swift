import CalfControl

/// Why an effect did not produce its result: what the last attempt threw
/// (as a value that can be journaled), or that its retries ran out of time.
public struct EffectFailure: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure: "error" (an error that says nothing more),
    /// "timeout" (an attempt ran past its `attemptTimeout`),
    /// "deadline" (the policy's `maximumDuration` passed), "cancelled",
    /// "unknown effect" (a node start found an effect of a type it does not
    /// have), or an effect's own (`EffectError.kind`: "transport", "status").
    public var kind: String
    /// What went wrong, for people.
    public var message: String
    /// A status the failure carries (an HTTP response's), matched by `RetryCondition.status`.
    public var status: Int?
    /// No retry helps (a 404, a request refused as invalid).
    public var terminal: Bool
    /// The attempts made.
    public var attempts: Int

    /// A failure.
    public init(kind: String, message: String, status: Int? = nil, terminal: Bool = false, attempts: Int = 1) {
        self.kind = kind
        self.message = message
        self.status = status
        self.terminal = terminal
        self.attempts = attempts
    }

    /// The failure `error` stands for: its own account if it is an
    /// `EffectError` (or already an `EffectFailure`), else kind "error" with its description.
    public init(_ error: any Error, attempts: Int) {
        switch error {
        case let failure as EffectFailure:
            self = failure
            self.attempts = attempts
        case let described as any EffectError:
            self.init(kind: described.kind, message: "\(described)", status: described.status, terminal: described.terminal, attempts: attempts)
        case is CancellationError:
            self.init(kind: "cancelled", message: "the effect was cancelled", terminal: true, attempts: attempts)
        default:
            self.init(kind: "error", message: "\(error)", attempts: attempts)
        }
    }

    /// "kind: message (after N attempts)".
    public var description: String {
        attempts > 1 ? "\(kind): \(message) (after \(attempts) attempts)" : "\(kind): \(message)"
    }
}

/// An error an effect throws that says what kind of failure it is, for its
/// retry policy to decide on (`RetryCondition`).
public protocol EffectError: Error {
    /// The failure's kind ("transport", "status", …).
    var kind: String { get }
    /// A status it carries, if any.
    var status: Int? { get }
    /// No retry can help.
    var terminal: Bool { get }
    /// How long the other side asked to wait before the next attempt (HTTP's `Retry-After`).
    var retryAfter: Duration? { get }
}

extension EffectError {
    /// None.
    public var status: Int? { nil }
    /// Retryable.
    public var terminal: Bool { false }
    /// No wish.
    public var retryAfter: Duration? { nil }
}

/// What an effect's code learns about the attempt it runs.
public struct EffectAttempt: Sendable {
    /// The effect's idempotency key: the same on every attempt and after a
    /// restart of the node, different for every effect (hand it on: an
    /// `Idempotency-Key` header).
    public let key: String
    /// The attempt's number, from 1 (counted afresh after a restart of the node).
    public let number: Int
    /// What the node gives its effects to work with (an HTTP connector).
    public let services: EffectServices
    /// When the effect's policy gives up (its journaled start plus
    /// `maximumDuration`): an attempt that would wait (a host's open circuit)
    /// waits no longer than this.
    public let deadline: WallTime

    /// An attempt.
    public init(key: String, number: Int, services: EffectServices = EffectServices(), deadline: WallTime = WallTime(nanosecondsSinceEpoch: .max)) {
        self.key = key
        self.number = number
        self.services = services
        self.deadline = deadline
    }
}

/// What a node gives its effects to work with, by type: a connector (its
/// HTTP client, allow-list and limits) set once when the node is made
/// (`DurableOptions.services`), read by an effect's code at each attempt.
/// An effect value itself is journaled, so it names what it needs; this is
/// how it finds it.
public struct EffectServices: Sendable {
    private var values: [ObjectIdentifier: any Sendable] = [:]

    /// None.
    public init() {}

    /// The service of type `T`, if the node has one.
    public subscript<T: Sendable>(_ type: T.Type) -> T? {
        get { values[ObjectIdentifier(type)] as? T }
        set { values[ObjectIdentifier(type)] = newValue }
    }
}

/// How far an effect's retries are (what `effects` in the shell shows).
public struct EffectProgress: Sendable, Equatable {
    /// Attempts started.
    public var attempts: Int
    /// Why the last attempt failed, while another is to come.
    public var lastFailure: EffectFailure?
    /// When the next attempt starts, while it waits for it.
    public var nextAttemptAt: WallTime?

    /// Progress.
    public init(attempts: Int, lastFailure: EffectFailure?, nextAttemptAt: WallTime?) {
        self.attempts = attempts
        self.lastFailure = lastFailure
        self.nextAttemptAt = nextAttemptAt
    }
}
