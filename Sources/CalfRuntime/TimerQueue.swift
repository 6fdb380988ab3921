import Glibc
import CalfControl

/// Nanoseconds on the monotonic clock.
@usableFromInline
package func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

extension Duration {
    /// This duration in whole nanoseconds, clamped at zero (any negative
    /// duration, -10 ms as well as -2 s) and saturated at `UInt64.max`
    /// (about 584 years): a timer, a call timeout or a backoff given a
    /// duration from outside never traps.
    package var nanoseconds: UInt64 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        // Positive: both parts are non-negative.
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .max }
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return carry ? .max : total
    }

    /// This duration in seconds.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// A duration of `nanoseconds`, saturated at `Int64.max` nanoseconds (about 292 years).
    package static func clampedNanoseconds(_ nanoseconds: UInt64) -> Duration {
        .nanoseconds(Int64(clamping: nanoseconds))
    }
}

/// A scheduler's pending timers: a binary min-heap by deadline, with lazy
/// cancellation (a cancelled timer leaves the pending set at once and its
/// heap entry is dropped when it comes due).
///
/// Thread ownership: the scheduler's loop thread. One libuv timer is armed
/// for the earliest deadline, however many timers are pending.
package struct TimerQueue {
    package struct Entry {
        package let deadline: UInt64
        package let id: UInt64
        /// The process the timer belongs to, which it follows when the
        /// process moves to another scheduler (nil: the scheduler's own).
        package let owner: ProcessCell?
        package let action: (Scheduler) -> Void
    }

    private var heap: [Entry] = []
    private var pending: Set<UInt64> = []

    /// The earliest deadline, if any timer is pending or awaiting removal.
    package var nextDeadline: UInt64? { heap.first?.deadline }

    package var pendingCount: Int { pending.count }

    package mutating func insert(_ entry: Entry) {
        pending.insert(entry.id)
        insertIntoHeap(entry)
    }

    private mutating func insertIntoHeap(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes a pending timer; returns whether it was pending.
    package mutating func cancel(_ id: UInt64) -> Bool {
        pending.remove(id) != nil
    }

    /// Removes and returns the actions of the timers due at `now`, in deadline order.
    package mutating func popDue(now: UInt64) -> [(Scheduler) -> Void] {
        var due: [(Scheduler) -> Void] = []
        while let first = heap.first, first.deadline <= now {
            let entry = popMin()
            if pending.remove(entry.id) != nil { due.append(entry.action) }
        }
        return due
    }

    /// Removes and returns the pending timers whose owners are in `owners`
    /// (processes moving away), which keep their ids and deadlines.
    package mutating func remove(ownedBy owners: Set<ObjectIdentifier>) -> [Entry] {
        var taken: [Entry] = []
        var kept: [Entry] = []
        kept.reserveCapacity(heap.count)
        for entry in heap {
            guard pending.contains(entry.id) else { continue }
            if let owner = entry.owner, owners.contains(ObjectIdentifier(owner)) {
                pending.remove(entry.id)
                taken.append(entry)
            } else {
                kept.append(entry)
            }
        }
        guard !taken.isEmpty else { return [] }
        heap = []
        for entry in kept { insertIntoHeap(entry) }
        return taken
    }

    package mutating func removeAll() {
        heap.removeAll()
        pending.removeAll()
    }

    private mutating func popMin() -> Entry {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { break }
                let right = left + 1
                var smallest = left
                if right < heap.count, heap[right].deadline < heap[left].deadline { smallest = right }
                guard heap[smallest].deadline < heap[parent].deadline else { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
