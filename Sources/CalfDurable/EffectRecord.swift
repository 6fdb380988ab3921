import CalfStore
import CalfControl
import CalfRuntime

/// A durable effect as the journal keeps it (an `effectStarted` record's
/// detail, and a snapshot's list of effects under way): enough to run it
/// again after a restart of the node, with the same key and policy.
package struct EffectRecord: Sendable, Equatable {
    /// Its number within its process (`EffectRef.id`): the seq of the
    /// message whose handler asked for it, then its index in that handling.
    package var id: UInt64
    /// When it was asked for (the message's accepted-at time, ns since the epoch).
    package var startedAt: UInt64
    /// Its type's `effectName`.
    package var name: String
    /// Its idempotency key.
    package var key: String
    package var policy: RetryPolicy
    /// The effect value, as `JournalCodec` writes it (its `JournalCodable`
    /// conformance, else `BinaryEncoder`).
    package var payload: [UInt8]

    package init(id: UInt64, startedAt: UInt64, name: String, key: String, policy: RetryPolicy, payload: [UInt8]) {
        self.id = id
        self.startedAt = startedAt
        self.name = name
        self.key = key
        self.policy = policy
        self.payload = payload
    }

    package func encoded() -> [UInt8] {
        var writer = ByteWriter()
        write(to: &writer)
        return writer.bytes
    }

    package func write(to writer: inout ByteWriter) {
        writer.varint(id)
        writer.varint(startedAt)
        writer.string(name)
        writer.string(key)
        Self.write(policy, to: &writer)
        writer.field(payload)
    }

    package init(reading reader: inout ByteReader) throws(LogRecordError) {
        id = try reader.varint("effect id")
        startedAt = try reader.varint("effect start")
        name = try reader.string("effect name")
        key = try reader.string("effect key")
        policy = try Self.readPolicy(&reader)
        payload = try reader.field("effect")
    }

    package init(decoding bytes: [UInt8], pid: UInt64) throws(LogRecordError) {
        var result: Result<EffectRecord, LogRecordError>!
        bytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer, what: "effect record", ofProcess: pid)
            do throws(LogRecordError) {
                result = .success(try EffectRecord(reading: &reader))
            } catch {
                result = .failure(error)
            }
        }
        self = try result.get()
    }

    // A policy by hand, field by field: it is journaled with every effect.
    private static func write(_ policy: RetryPolicy, to writer: inout ByteWriter) {
        writer.varint(UInt64(policy.maximumAttempts))
        writer.varint(policy.initialBackoff.nanoseconds)
        writer.double(policy.multiplier)
        writer.varint(policy.maximumBackoff.nanoseconds)
        writer.double(policy.jitter)
        writer.varint(policy.attemptTimeout?.nanoseconds ?? 0)
        writer.varint(policy.maximumDuration.nanoseconds)
        writer.varint(UInt64(policy.retryOn.count))
        for condition in policy.retryOn {
            switch condition {
            case .any:
                writer.byte(0)
            case .kind(let kind):
                writer.byte(1)
                writer.string(kind)
            case .status(let range):
                writer.byte(2)
                writer.int(range.lowerBound)
                writer.int(range.upperBound)
            }
        }
    }

    private static func readPolicy(_ reader: inout ByteReader) throws(LogRecordError) -> RetryPolicy {
        let attempts = try reader.varint("attempts")
        let initial = Duration.clampedNanoseconds(try reader.varint("initial backoff"))
        let multiplier = try reader.double("multiplier")
        let maximum = Duration.clampedNanoseconds(try reader.varint("maximum backoff"))
        let jitter = try reader.double("jitter")
        let timeout = try reader.varint("attempt timeout")
        let duration = Duration.clampedNanoseconds(try reader.varint("maximum duration"))
        let count = try reader.varint("retry conditions")
        var conditions: [RetryCondition] = []
        for _ in 0..<min(count, 1024) {
            switch try reader.byte("retry condition") {
            case 0: conditions.append(.any)
            case 1: conditions.append(.kind(try reader.string("retried kind")))
            case 2:
                let low = try reader.int("lowest status")
                let high = try reader.int("highest status")
                guard low <= high else { throw reader.error("status range \(low)...\(high) is empty") }
                conditions.append(.status(low...high))
            case let tag: throw reader.error("retry condition \(tag) is unknown")
            }
        }
        return RetryPolicy(
            maximumAttempts: Int(clamping: attempts), initialBackoff: initial, multiplier: multiplier,
            maximumBackoff: maximum, jitter: jitter, attemptTimeout: timeout == 0 ? nil : .clampedNanoseconds(timeout),
            maximumDuration: duration, retryOn: conditions)
    }
}
