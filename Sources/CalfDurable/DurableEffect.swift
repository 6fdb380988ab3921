import CalfStore
import FoundationEssentials
import CalfControl
import CalfRuntime

/// Async work a durable handler asks for, as a value: journaled when the
/// handler's turn commits, then run (retried by its `RetryPolicy`) until
/// it has a result; the result comes back to the
/// process as a journaled message (`EffectCompletionMessage`). Replay reads
/// that message and never runs the effect again.
///
/// At least once, stated honestly: an attempt may run again after a crash
/// of the node before its result was journaled (re-run after the restart
/// with the same `EffectAttempt.key`, which the effect hands on to make it
/// once end to end); its result is taken once (deduplicated by that key).
///
/// The node must know the type to re-run it after a restart: list it in
/// the behavior's `effects` (or `DurableOptions.effects`); asking for an
/// effect of a type the node does not know fails the handler.
///
/// ```swift
/// struct Charge: DurableEffect {
///     var account: String, cents: Int
///     func run(_ attempt: EffectAttempt) async throws -> Receipt {
///         try await payments.charge(account, cents, idempotencyKey: attempt.key)
///     }
/// }
/// ```
public protocol DurableEffect: Codable, Sendable {
    /// What it produces (journaled with the completion, as JSON).
    associatedtype Output: Codable & Sendable
    /// The name the journal records for it; the node that re-runs it must
    /// know an effect type by that name. Default: the type's name.
    static var effectName: String { get }
    /// How it is retried unless the handler says otherwise. Default: `RetryPolicy.default`.
    var retryPolicy: RetryPolicy { get }
    /// Whether its task starts on its process's scheduler thread, right
    /// after the commit, and runs there until its first suspension (an
    /// effect that completes without suspending costs no thread hop and no
    /// wake-up); false starts it on Swift's concurrency pool. Default:
    /// true. An effect whose code blocks or computes for long before it
    /// first awaits holds up the scheduler's other processes meanwhile:
    /// such an effect says false.
    static var startsInline: Bool { get }
    /// One attempt at it.
    func run(_ attempt: EffectAttempt) async throws -> Output
}

extension DurableEffect {
    /// The type's name.
    public static var effectName: String { String(describing: Self.self) }
    /// The bounded default.
    public var retryPolicy: RetryPolicy { .default }
    /// Inline.
    public static var startsInline: Bool { true }
}

/// A message type that can carry the outcome of an effect: the handler of
/// a process that asks for effects gets each one's outcome as this message.
/// An enum case satisfies it:
///
/// ```swift
/// enum Message: Codable, Sendable, EffectCompletionMessage {
///     case charge(cents: Int)
///     case effectCompleted(EffectCompletion)
/// }
/// ```
public protocol EffectCompletionMessage {
    /// The message that carries `completion`.
    static func effectCompleted(_ completion: EffectCompletion) -> Self
}

/// The outcome of a durable effect, as its process receives it (journaled).
public struct EffectCompletion: Codable, Sendable, Equatable {
    /// The effect (as `perform` returned it).
    public var effect: EffectRef
    /// Its type's `effectName`.
    public var name: String
    /// Its idempotency key.
    public var key: String
    /// The attempts of its last run.
    public var attempts: Int
    /// Its output as JSON, when it succeeded.
    public var output: String?
    /// Why it failed, when it did.
    public var failure: EffectFailure?

    /// A completion.
    public init(effect: EffectRef, name: String, key: String, attempts: Int, output: String?, failure: EffectFailure?) {
        self.effect = effect
        self.name = name
        self.key = key
        self.attempts = attempts
        self.output = output
        self.failure = failure
    }

    /// Whether it produced an output.
    public var succeeded: Bool { failure == nil && output != nil }

    /// Its output decoded as `T`, or its failure (a failure of kind
    /// "undecodable" when the output is not a `T`).
    public func result<T: Decodable>(as type: T.Type = T.self) -> Result<T, EffectFailure> {
        if let failure { return .failure(failure) }
        guard let output else { return .failure(EffectFailure(kind: "undecodable", message: "the completion of \(name) has no output", terminal: true, attempts: attempts)) }
        do {
            return .success(try JSONDecoder().decode(T.self, from: Data(output.utf8)))
        } catch {
            return .failure(EffectFailure(kind: "undecodable", message: "the output of \(name) is not a \(T.self): \(error)", terminal: true, attempts: attempts))
        }
    }

    private enum CodingKeys: String, CodingKey { case effect, name, key, attempts, output, failure }

    /// Decodes a completion (`effect` is the effect's id).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        effect = EffectRef(id: try container.decode(UInt64.self, forKey: .effect))
        name = try container.decode(String.self, forKey: .name)
        key = try container.decode(String.self, forKey: .key)
        attempts = try container.decode(Int.self, forKey: .attempts)
        output = try container.decodeIfPresent(String.self, forKey: .output)
        failure = try container.decodeIfPresent(EffectFailure.self, forKey: .failure)
    }

    /// Encodes a completion flat (the effect as its id: one container less per journaled completion).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(effect.id, forKey: .effect)
        try container.encode(name, forKey: .name)
        try container.encode(key, forKey: .key)
        try container.encode(attempts, forKey: .attempts)
        try container.encodeIfPresent(output, forKey: .output)
        try container.encodeIfPresent(failure, forKey: .failure)
    }

    /// Its output decoded as `T`.
    /// - Throws: its `EffectFailure`.
    public func value<T: Decodable>(as type: T.Type = T.self) throws(EffectFailure) -> T {
        try result(as: T.self).get()
    }
}

/// A completion writes itself (a message type that is `JournalCodable`
/// writes the completion it carries with `write(to:)`, field by field).
extension EffectCompletion: JournalCodable {
    /// Writes the completion's fields.
    public func write(to writer: inout ByteWriter) {
        writer.varint(effect.id)
        writer.string(name)
        writer.string(key)
        writer.int(attempts)
        if let output {
            writer.byte(1)
            writer.string(output)
        } else {
            writer.byte(0)
        }
        if let failure {
            writer.byte(1)
            failure.write(to: &writer)
        } else {
            writer.byte(0)
        }
    }

    /// Reads what `write(to:)` wrote.
    public init(reading reader: inout ByteReader) throws {
        effect = EffectRef(id: try reader.varint("effect"))
        name = try reader.string("effect name")
        key = try reader.string("effect key")
        attempts = try reader.int("attempts")
        output = try reader.bool("has output") ? try reader.string("output") : nil
        failure = try reader.bool("has failure") ? try EffectFailure(reading: &reader) : nil
    }
}

extension EffectFailure: JournalCodable {
    /// Writes the failure's fields.
    public func write(to writer: inout ByteWriter) {
        writer.string(kind)
        writer.string(message)
        writer.int(status ?? -1)
        writer.bool(terminal)
        writer.int(attempts)
    }

    /// Reads what `write(to:)` wrote.
    public init(reading reader: inout ByteReader) throws {
        let kind = try reader.string("failure kind")
        let message = try reader.string("failure message")
        let status = try reader.int("status")
        self.init(kind: kind, message: message, status: status < 0 ? nil : status,
                  terminal: try reader.bool("terminal"), attempts: try reader.int("attempts"))
    }
}
