import CalfControl
import CalfRuntime
import CalfDurable

/// OTP's restart intensity: at most `limit` restarts within `period`.
///
/// Keeps only the last `limit` restart times in a ring, so each restart
/// costs the same however long the history (OTP's list of restart times
/// is filtered on every restart and slows down as it grows).
package struct RestartWindow {
    package let limit: Int
    package let periodNanoseconds: UInt64
    private var times: [UInt64] = []
    private var oldest = 0

    package init(limit: Int, period: Duration) {
        self.limit = limit
        periodNanoseconds = max(1, period.nanoseconds)
    }

    /// Starts from restart times saved before (oldest first).
    package mutating func restore(_ saved: [UInt64]) {
        times = Array(saved.suffix(limit))
        oldest = 0
    }

    /// Forgets every restart (a supervisor that gave up starts afresh).
    package mutating func clear() {
        times.removeAll()
        oldest = 0
    }

    /// Records a restart at `now`; returns false when it is one more than
    /// the limit allows within the period (the supervisor must give up).
    package mutating func admit(now: UInt64) -> Bool {
        guard limit > 0 else { return false }
        if times.count < limit {
            times.append(now)
            return true
        }
        // The ring is full: `times[oldest]` is the limit-th restart back.
        if now &- times[oldest] < periodNanoseconds { return false }
        times[oldest] = now
        oldest = (oldest + 1) % limit
        return true
    }
}
