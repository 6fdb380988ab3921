import CalfStore
import Glibc
import CalfControl
import CalfRuntime

/// The node whose journal is being read on this thread: set around every
/// decode the durable runtime does, so that an `Address` inside a journaled
/// message or state finds its process again.
package enum DurableDecoding {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // invariant: the process can always create one key at start; failure means the system is out of keys.
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// The node being decoded for, if any.
    package static var current: DurableCore? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<DurableCore>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Runs `body` with `core` as the node addresses resolve against.
    package static func with<T>(_ core: DurableCore, _ body: () throws -> T) rethrows -> T {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, Unmanaged.passUnretained(core).toOpaque())
        defer { pthread_setspecific(key, previous) }
        return try body()
    }
}

/// An address is journaled as its pid. Decoded by a node (in a durable
/// process's message or state), it is the live process with that pid, or —
/// if that process has exited, or was transient and did not survive a
/// restart — an address whose mail becomes dead letters.
extension Address: Codable where Message: Codable {
    /// Writes the address as its pid.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(cell.pid)
    }

    /// Reads a pid and finds its process in the node doing the decoding.
    /// - Throws: `DecodingError.dataCorrupted` outside a node's decoding.
    public init(from decoder: any Decoder) throws {
        let pid = try decoder.singleValueContainer().decode(Pid.self)
        guard let durable = DurableDecoding.current else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath,
                debugDescription: "an Address is decoded only by a node, in a durable process's message or state"))
        }
        self = durable.address(of: pid, taking: Message.self)
    }
}

extension DurableCore {
    /// The address of durable process `pid` taking `M`, or a dead one.
    package func address<M: Codable & Sendable>(of pid: Pid, taking: M.Type) -> Address<M> {
        if let cell = cell(pid), (cell as? DurableNamed)?.messageType == ObjectIdentifier(M.self) {
            // invariant: a durable cell whose message type is M is a MailboxCell<M>.
            return Address(cell: unsafeDowncast(cell, to: MailboxCell<M>.self))
        }
        // Passivated: a stand-in that brings it back with the first mail it commits.
        if isPassive(pid) { return Address(cell: DurableCellBase<M>.standIn(for: pid, name: nil, durable: self)) }
        let placeholder = DurableCellBase<M>(pid: pid, scheduler: scheduler(for: pid), durable: self, name: nil)
        placeholder.status = .dead
        return Address(cell: placeholder)
    }
}

extension ByteWriter {
    /// Appends an address as its pid, in a `JournalCodable` message or state.
    public mutating func address<M>(_ address: Address<M>) { varint(address.pid.serial) }
}

extension ByteReader {
    /// Reads an address `ByteWriter.address(_:)` wrote: the live process with
    /// that pid in the node doing the decoding, or an address whose mail
    /// becomes dead letters (as a decoded `Codable` address).
    /// - Throws: outside a node's decoding, or on truncated bytes.
    public mutating func address<M: Codable & Sendable>(_ field: String, taking: M.Type = M.self) throws -> Address<M> {
        let pid = Pid(serial: try varint(field))
        guard let durable = DurableDecoding.current else {
            throw error("\(field): an Address is decoded only by a node, in a durable process's message or state")
        }
        return durable.address(of: pid, taking: M.self)
    }
}

extension Address: JournalField where Message: Codable {
    /// The address as its pid (a field of a `@JournalCoded` message or state).
    public func writeJournalField(to writer: inout ByteWriter) { writer.address(self) }

    /// Reads an address as `ByteReader.address(_:taking:)` does.
    public init(readingJournalField reader: inout ByteReader, named field: String) throws {
        self = try reader.address(field, taking: Message.self)
    }
}
