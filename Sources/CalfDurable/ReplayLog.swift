import CalfStore
import CalfControl
import CalfRuntime

/// The journaled messages a durable process runs through its handler again
/// (a rebuild, a node start, a past state): each handled entry with its
/// accepted-at time and payload, the payloads one after another in one
/// buffer, so a replay of a million messages makes no array per message.
@usableFromInline
package struct ReplayLog {
    /// One message to replay: what its handling produced, when it was
    /// accepted, where its payload is in `bytes`.
    @usableFromInline
    package struct Entry {
        @usableFromInline package var handled: LogRecord.Handled
        @usableFromInline package var acceptedAt: UInt64
        @usableFromInline package var payload: Range<Int>
    }

    @usableFromInline package private(set) var entries: [Entry] = []
    @usableFromInline package private(set) var bytes: [UInt8] = []

    /// An empty log with room for `count` messages.
    package init(reservingCapacity count: Int = 0) {
        entries.reserveCapacity(count)
        bytes.reserveCapacity(count * 16)
    }

    /// The messages to replay.
    package var count: Int { entries.count }

    /// Appends a message handled as `handled`, accepted at `acceptedAt`, with `payload`.
    package mutating func append(_ handled: LogRecord.Handled, acceptedAt: UInt64, payload: UnsafeRawBufferPointer) {
        let start = bytes.count
        bytes.append(contentsOf: payload)
        entries.append(Entry(handled: handled, acceptedAt: acceptedAt, payload: start..<bytes.count))
    }

    /// Appends a message handled as `handled` whose accepted record is `accepted`.
    package mutating func append(_ handled: LogRecord.Handled, _ accepted: LogRecord.Accepted) {
        accepted.payload.withUnsafeBytes { append(handled, acceptedAt: accepted.acceptedAt, payload: $0) }
    }

    /// Visits each entry with its payload's bytes, in order.
    @inlinable
    package func forEach(_ body: (Entry, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { all in
            for entry in entries { try body(entry, UnsafeRawBufferPointer(rebasing: all[entry.payload])) }
        }
    }
}
