/// One record of the node's global append-only log (DESIGN.md, storage
/// layout). Records name processes by their pid's number; CalfStore knows
/// nothing else of processes.
public enum LogRecord: Equatable, Sendable {
    /// A message accepted for process `to`: durable from the commit on.
    case accepted(Accepted)
    /// Process `pid` has handled its mailbox through global seq `through`;
    /// `digest` summarizes the outputs that handling produced (replay checks it).
    case progress(pid: UInt64, through: UInt64, digest: UInt64)
    /// Something happened to process `pid`: spawned, exited, restarted, a
    /// timer set or fired, a message dead-lettered. `detail` is the event's
    /// own encoding.
    case lifecycle(pid: UInt64, event: LifecycleEvent, detail: [UInt8])

    /// An accepted message.
    public struct Accepted: Equatable, Sendable {
        /// The recipient's pid number.
        public var to: UInt64
        /// The sender's idempotency key, if it gave one.
        public var key: String?
        /// When it was accepted, in nanoseconds since the Unix epoch (the
        /// handler's clock, so replay sees the same time).
        public var acceptedAt: UInt64
        /// The message, encoded.
        public var payload: [UInt8]

        /// An accepted message for `to`.
        public init(to: UInt64, key: String? = nil, acceptedAt: UInt64, payload: [UInt8]) {
            self.to = to
            self.key = key
            self.acceptedAt = acceptedAt
            self.payload = payload
        }
    }

    /// The pid of the process the record concerns.
    public var pid: UInt64 {
        switch self {
        case .accepted(let accepted): accepted.to
        case .progress(let pid, _, _), .lifecycle(let pid, _, _): pid
        }
    }
}

/// What a lifecycle record tells.
public enum LifecycleEvent: UInt8, Sendable, CaseIterable {
    case spawned = 1
    case exited = 2
    case restarted = 3
    case timerSet = 4
    case timerFired = 5
    case deadLettered = 6
    case quarantined = 7
}

/// Why a stored record could not be read.
public struct LogRecordError: Error, Equatable, CustomStringConvertible {
    /// The record's global seq, when known.
    public var seq: UInt64?
    /// What was wrong with it.
    public var reason: String

    public var description: String {
        seq.map { "log record \($0) is corrupt: \(reason)" } ?? "log record is corrupt: \(reason)"
    }
}

// MARK: Byte layout
//
// tag (1 byte), then per kind:
//   accepted:  varint to, varint acceptedAt, varint keyLength+1 (0: none), key, payload (the rest)
//   progress:  varint pid, varint through, 8 bytes digest (little-endian)
//   lifecycle: varint pid, event (1 byte), detail (the rest)

extension LogRecord {
    private enum Tag: UInt8 {
        case accepted = 1, progress = 2, lifecycle = 3
    }

    /// The record's bytes as stored in the log.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .accepted(let accepted):
            bytes.reserveCapacity(24 + accepted.payload.count + (accepted.key?.utf8.count ?? 0))
            bytes.append(Tag.accepted.rawValue)
            Varint.append(accepted.to, to: &bytes)
            Varint.append(accepted.acceptedAt, to: &bytes)
            if let key = accepted.key {
                Varint.append(UInt64(key.utf8.count) + 1, to: &bytes)
                bytes.append(contentsOf: key.utf8)
            } else {
                bytes.append(0)
            }
            bytes.append(contentsOf: accepted.payload)
        case .progress(let pid, let through, let digest):
            bytes.append(Tag.progress.rawValue)
            Varint.append(pid, to: &bytes)
            Varint.append(through, to: &bytes)
            withUnsafeBytes(of: digest.littleEndian) { bytes.append(contentsOf: $0) }
        case .lifecycle(let pid, let event, let detail):
            bytes.append(Tag.lifecycle.rawValue)
            Varint.append(pid, to: &bytes)
            bytes.append(event.rawValue)
            bytes.append(contentsOf: detail)
        }
        return bytes
    }

    /// Reads a record from its stored bytes.
    /// - Throws: `LogRecordError` naming what is wrong (never traps).
    public init(decoding bytes: UnsafeRawBufferPointer, seq: UInt64? = nil) throws(LogRecordError) {
        func fail(_ reason: String) -> LogRecordError { LogRecordError(seq: seq, reason: reason) }
        var offset = 1
        let end = bytes.count
        func varint(_ what: String) throws(LogRecordError) -> UInt64 {
            guard let value = Varint.read(bytes, at: &offset, end: end) else { throw fail("truncated \(what)") }
            return value
        }
        guard let tagByte = bytes.first else { throw fail("empty record") }
        guard let tag = Tag(rawValue: tagByte) else { throw fail("unknown record kind \(tagByte)") }
        switch tag {
        case .accepted:
            let to = try varint("recipient")
            let acceptedAt = try varint("acceptance time")
            let keyHeader = try varint("key length")
            var key: String?
            if keyHeader > 0 {
                let length = keyHeader - 1
                guard length <= UInt64(end - offset) else { throw fail("key runs past the end") }
                let range = offset..<(offset + Int(length))
                guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
                    throw fail("key is not UTF-8")
                }
                key = text
                offset = range.upperBound
            }
            self = .accepted(Accepted(to: to, key: key, acceptedAt: acceptedAt, payload: Array(bytes[offset..<end])))
        case .progress:
            let pid = try varint("pid")
            let through = try varint("cursor")
            guard end - offset == 8 else { throw fail("digest is \(end - offset) bytes, not 8") }
            let digest = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            self = .progress(pid: pid, through: through, digest: digest)
        case .lifecycle:
            let pid = try varint("pid")
            guard offset < end else { throw fail("truncated event") }
            guard let event = LifecycleEvent(rawValue: bytes[offset]) else { throw fail("unknown lifecycle event \(bytes[offset])") }
            offset += 1
            self = .lifecycle(pid: pid, event: event, detail: Array(bytes[offset..<end]))
        }
    }
}
