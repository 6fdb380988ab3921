import CalfStore
import CalfControl
import CalfRuntime

/// A committed durable timer of a process: due at a wall-clock time, sends
/// its payload to the process, again every `period` if periodic.
package struct DurableTimer: Sendable {
    package var id: UInt64
    /// Nanoseconds since the epoch.
    package var due: UInt64
    /// 0 for a one-shot timer.
    package var period: UInt64
    package var payload: [UInt8]

    package func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.varint(id)
        writer.varint(due)
        writer.varint(period)
        writer.rest(payload)
        return writer.bytes
    }

    package init(id: UInt64, due: UInt64, period: UInt64, payload: [UInt8]) {
        self.id = id
        self.due = due
        self.period = period
        self.payload = payload
    }

    package init(reading reader: inout ByteReader) throws(LogRecordError) {
        id = try reader.varint("timer id")
        due = try reader.varint("timer due time")
        period = try reader.varint("timer period")
        payload = reader.rest()
    }

    /// The next due time after a firing at `now`: missed periods collapse
    /// into the one firing happening now.
    package func nextDue(firedAt now: UInt64) -> UInt64 {
        guard period > 0 else { return 0 }
        guard now >= due else { return due &+ period }
        let missed = (now - due) / period
        return due &+ (missed &+ 1) &* period
    }
}
