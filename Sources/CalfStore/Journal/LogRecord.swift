/// One record of the node's global append-only log (DESIGN.md, storage
/// layout). Records name processes by their pid's number; CalfStore knows
/// nothing else of processes.
public enum LogRecord: Equatable, Sendable {
    /// A message accepted for process `to`: durable from the commit on.
    case accepted(Accepted)
    /// Process `pid` handled the accepted records at the seqs listed, in
    /// that order, in one turn; each one's `digest` summarizes the outputs
    /// its handling produced (replay checks it).
    case progress(pid: UInt64, handled: [Handled])
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

    /// One handled message of a progress record.
    public struct Handled: Equatable, Sendable {
        /// The global seq of the accepted record that was handled.
        public var seq: UInt64
        /// A digest of the outputs its handling produced.
        public var digest: UInt64

        /// A handled message: the record at `seq`, with its output digest.
        public init(seq: UInt64, digest: UInt64) {
            self.seq = seq
            self.digest = digest
        }
    }

    /// The pid of the process the record concerns.
    public var pid: UInt64 {
        switch self {
        case .accepted(let accepted): accepted.to
        case .progress(let pid, _), .lifecycle(let pid, _, _): pid
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
    case timerCancelled = 8
    /// A durable effect was asked for (its record: what to run, its key and policy).
    case effectStarted = 9
    /// A durable effect ended: its completion was journaled, or its process cancelled it.
    case effectFinished = 10
}

/// Why a stored record could not be read.
public struct LogRecordError: Error, Equatable, CustomStringConvertible {
    /// The record's global seq, when known.
    public var seq: UInt64?
    /// The pid of the process the record concerns, when its bytes still tell.
    public var pid: UInt64?
    /// What was wrong with it.
    public var reason: String

    /// An error about the record at `seq`.
    public init(seq: UInt64?, pid: UInt64? = nil, reason: String) {
        self.seq = seq
        self.pid = pid
        self.reason = reason
    }

    /// A log key that is not an 8-byte seq (`count` bytes long).
    public static func malformedKey(_ count: Int) -> LogRecordError {
        LogRecordError(seq: nil, reason: "key of \(count) bytes in the log")
    }

    public var description: String {
        seq.map { "log record \($0) is corrupt: \(reason)" } ?? "log record is corrupt: \(reason)"
    }
}

// MARK: Byte layout
//
// tag (1 byte), then per kind:
//   accepted:  varint to, varint acceptedAt, varint keyLength+1 (0: none), key, payload (the rest)
//   progress:  varint pid, varint count, then per handled message: varint seq, 8 bytes digest (little-endian)
//   lifecycle: varint pid, event (1 byte), detail (the rest)

extension LogRecord {
    private enum Tag: UInt8 {
        case accepted = 1, progress = 2, lifecycle = 3
    }

    /// The header of an accepted record; its payload is appended after it
    /// (`BinaryEncoder.encode(_:appendingTo:)`), the record's last field.
    public static func acceptedHeader(to: UInt64, key: String?, acceptedAt: UInt64, reserving payloadCapacity: Int = 48) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24 + payloadCapacity + (key?.utf8.count ?? 0))
        appendAcceptedHeader(to: to, key: key, acceptedAt: acceptedAt, into: &bytes)
        return bytes
    }

    /// Appends the header of an accepted record to `bytes`.
    public static func appendAcceptedHeader(to: UInt64, key: String?, acceptedAt: UInt64, into bytes: inout [UInt8]) {
        bytes.append(Tag.accepted.rawValue)
        Varint.append(to, to: &bytes)
        Varint.append(acceptedAt, to: &bytes)
        if let key {
            Varint.append(UInt64(key.utf8.count) + 1, to: &bytes)
            bytes.append(contentsOf: key.utf8)
        } else {
            bytes.append(0)
        }
    }

    /// The record's bytes as stored in the log.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .accepted(let accepted): bytes.reserveCapacity(24 + accepted.payload.count + (accepted.key?.utf8.count ?? 0))
        case .progress(_, let handled): bytes.reserveCapacity(4 + handled.count * 14)
        case .lifecycle(_, _, let detail): bytes.reserveCapacity(12 + detail.count)
        }
        encode(into: &bytes)
        return bytes
    }

    /// Appends the record's bytes to `bytes`.
    public func encode(into bytes: inout [UInt8]) {
        switch self {
        case .accepted(let accepted):
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
        case .progress(let pid, let handled):
            bytes.append(Tag.progress.rawValue)
            Varint.append(pid, to: &bytes)
            Varint.append(UInt64(handled.count), to: &bytes)
            for entry in handled {
                Varint.append(entry.seq, to: &bytes)
                withUnsafeBytes(of: entry.digest.littleEndian) { bytes.append(contentsOf: $0) }
            }
        case .lifecycle(let pid, let event, let detail):
            bytes.append(Tag.lifecycle.rawValue)
            Varint.append(pid, to: &bytes)
            bytes.append(event.rawValue)
            bytes.append(contentsOf: detail)
        }
    }

    /// Reads a stored record's fields one after another; its errors name
    /// the record's seq and, once read, its pid.
    private struct FieldReader {
        let bytes: UnsafeRawBufferPointer
        let seq: UInt64?
        var pid: UInt64?
        /// Past the tag byte.
        var offset = 1
        var end: Int { bytes.count }

        init(_ bytes: UnsafeRawBufferPointer, seq: UInt64?) {
            self.bytes = bytes
            self.seq = seq
        }

        func fail(_ reason: String) -> LogRecordError { LogRecordError(seq: seq, pid: pid, reason: reason) }

        mutating func varint(_ what: String) throws(LogRecordError) -> UInt64 {
            guard let value = Varint.read(bytes, at: &offset, end: end) else { throw fail("truncated \(what)") }
            return value
        }

        /// Reads the pid field, which later errors then name.
        mutating func owner() throws(LogRecordError) -> UInt64 {
            let value = try varint("pid")
            pid = value
            return value
        }
    }

    /// The pid a stored record's bytes name, read as far as they go (for
    /// an error about a record that cannot be trusted: a corrupt record may
    /// name the wrong process), or nil if they name none.
    public static func namedPid(in bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard let tag = bytes.first, Tag(rawValue: tag) != nil else { return nil }
        var offset = 1
        return Varint.read(bytes, at: &offset, end: bytes.count)
    }

    /// The fields of an accepted record read in place (its payload is
    /// `bytes[payloadStart...]`, not copied); nil for a record of another kind.
    /// - Throws: `LogRecordError` naming what is wrong (never traps).
    public static func acceptedFields(
        in bytes: UnsafeRawBufferPointer, seq: UInt64? = nil
    ) throws(LogRecordError) -> (to: UInt64, key: String?, acceptedAt: UInt64, payloadStart: Int)? {
        guard bytes.first == Tag.accepted.rawValue else { return nil }
        var reader = FieldReader(bytes, seq: seq)
        let to = try reader.varint("recipient")
        reader.pid = to
        let acceptedAt = try reader.varint("acceptance time")
        let keyHeader = try reader.varint("key length")
        var key: String?
        if keyHeader > 0 {
            let length = keyHeader - 1
            guard length <= UInt64(reader.end - reader.offset) else { throw reader.fail("key runs past the end") }
            let range = reader.offset..<(reader.offset + Int(length))
            guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
                throw reader.fail("key is not UTF-8")
            }
            key = text
            reader.offset = range.upperBound
        }
        return (to, key, acceptedAt, reader.offset)
    }

    /// Reads a progress record in place: its pid and its handled messages
    /// (checked whole first, then read from `bytes`, which must outlive
    /// them); nil for a record of another kind.
    /// - Throws: `LogRecordError` naming what is wrong (never traps).
    public static func progressFields(
        in bytes: UnsafeRawBufferPointer, seq: UInt64? = nil
    ) throws(LogRecordError) -> (pid: UInt64, handled: HandledEntries)? {
        guard bytes.first == Tag.progress.rawValue else { return nil }
        var reader = FieldReader(bytes, seq: seq)
        let owner = try reader.owner()
        let count = try reader.varint("count of handled messages")
        // Each entry takes at least 9 bytes.
        guard count <= UInt64(reader.end - reader.offset) / 9 else {
            throw reader.fail("\(count) handled messages cannot fit in \(reader.end - reader.offset) bytes")
        }
        let first = reader.offset
        for _ in 0..<count {
            _ = try reader.varint("handled seq")
            guard reader.end - reader.offset >= 8 else { throw reader.fail("truncated digest") }
            reader.offset += 8
        }
        guard reader.offset == reader.end else { throw reader.fail("\(reader.end - reader.offset) bytes after the handled messages") }
        return (owner, HandledEntries(bytes: bytes, start: first, count: Int(count)))
    }

    /// The handled messages of a progress record checked by
    /// `progressFields(in:seq:)`, read from its bytes as iterated.
    public struct HandledEntries: Sequence {
        let bytes: UnsafeRawBufferPointer
        let start: Int
        /// How many there are.
        public let count: Int

        /// An iterator over the entries.
        public func makeIterator() -> Iterator { Iterator(bytes: bytes, offset: start, left: count) }

        /// Reads one entry after another.
        public struct Iterator: IteratorProtocol {
            let bytes: UnsafeRawBufferPointer
            var offset: Int
            var left: Int

            /// The next handled message.
            public mutating func next() -> Handled? {
                guard left > 0, let seq = Varint.read(bytes, at: &offset, end: bytes.count), bytes.count - offset >= 8 else { return nil }
                left -= 1
                let digest = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
                return Handled(seq: seq, digest: digest)
            }
        }
    }

    /// Reads a record from its stored bytes.
    /// - Throws: `LogRecordError` naming what is wrong (never traps).
    public init(decoding bytes: UnsafeRawBufferPointer, seq: UInt64? = nil) throws(LogRecordError) {
        var reader = FieldReader(bytes, seq: seq)
        guard let tagByte = bytes.first else { throw reader.fail("empty record") }
        guard let tag = Tag(rawValue: tagByte) else { throw reader.fail("unknown record kind \(tagByte)") }
        switch tag {
        case .accepted:
            // invariant: the tag says accepted, so the fields are there or it threw.
            let fields = try Self.acceptedFields(in: bytes, seq: seq)!
            self = .accepted(Accepted(to: fields.to, key: fields.key, acceptedAt: fields.acceptedAt, payload: Array(bytes[fields.payloadStart...])))
        case .progress:
            // invariant: the tag says progress, so the fields are there or it threw.
            let fields = try Self.progressFields(in: bytes, seq: seq)!
            self = .progress(pid: fields.pid, handled: Array(fields.handled))
        case .lifecycle:
            let owner = try reader.owner()
            guard reader.offset < reader.end else { throw reader.fail("truncated event") }
            let eventByte = bytes[reader.offset]
            guard let event = LifecycleEvent(rawValue: eventByte) else { throw reader.fail("unknown lifecycle event \(eventByte)") }
            self = .lifecycle(pid: owner, event: event, detail: Array(bytes[(reader.offset + 1)...]))
        }
    }
}
