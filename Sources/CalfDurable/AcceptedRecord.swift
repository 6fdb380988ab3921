import CalfStore
import CalfControl
import CalfRuntime

/// The one place an accepted record (a message journaled for a durable
/// process) is encoded: its header, then its payload as `writePayload`
/// writes it (the message through its codec, or a payload encoded before:
/// a timer's). Mail from outside, mail between processes and timer firings
/// all come through here.
@usableFromInline
package enum AcceptedRecord {
    /// Appends the record to `bytes`; returns where its payload begins. If
    /// `writePayload` throws, `bytes` is left as it was.
    @inlinable
    package static func append(to pid: UInt64, key: String?, acceptedAt: UInt64, into bytes: inout [UInt8],
                       payload writePayload: (inout [UInt8]) throws -> Void) rethrows -> Int {
        let start = bytes.count
        LogRecord.appendAcceptedHeader(to: pid, key: key, acceptedAt: acceptedAt, into: &bytes)
        let payloadStart = bytes.count
        do {
            try writePayload(&bytes)
        } catch {
            bytes.removeSubrange(start...)
            throw error
        }
        return payloadStart
    }
}
