import CalfControl
import CalfRuntime

/// How much of the log the journal keeps: records stay while a process may
/// need them (pending mail, the last round's cut) and for `length` after
/// that, so that the operator can look back (`journal`, `state --at`).
///
/// A value type with no I/O: the writer tells it each finished round and
/// drops the records before the boundary it returns.
package struct HistoryWindow {
    /// A finished round: when, the first seq the next start would scan, the lowest seq pending then.
    package struct Mark: Equatable {
        package var time: UInt64
        package var scanFrom: UInt64
        package var lowestPending: UInt64
    }

    /// How long records are kept after no process needs them, in nanoseconds.
    package let length: UInt64
    /// Rounds within the window, oldest first.
    package private(set) var marks: [Mark] = []

    package init(length: UInt64) { self.length = length }

    /// A round finished at `now` (its cut + 1 is `scanFrom`, the lowest seq
    /// still pending `lowestPending`): returns the seq before which records
    /// may go (0: none). The newest round older than the window bounds it.
    package mutating func roundFinished(at now: UInt64, scanFrom: UInt64, lowestPending: UInt64) -> UInt64 {
        marks.append(Mark(time: now, scanFrom: scanFrom, lowestPending: lowestPending))
        var boundary: UInt64 = 0
        while let oldest = marks.first, now &- oldest.time >= length {
            boundary = min(oldest.scanFrom, lowestPending, scanFrom)
            marks.removeFirst()
        }
        return boundary
    }
}
